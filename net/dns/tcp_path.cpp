// SPDX-License-Identifier: Apache-2.0
// Queries over TCP (RFC 7766): length-prefixed messages from a sandbox, each relayed over
// its own TCP connection to an upstream, answers written back in the order they arrive.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "net/dns/forwarder_impl.hpp"

namespace nexus::net::dns {

void Forwarder::Impl::on_tcp_listener(size_t index) {
  int lfd = tcp_listeners[index].fd.get();
  for (int n = 0; n < kReadBatch; ++n) {
    sockaddr_storage from{};
    socklen_t len = sizeof from;
    UniqueFd fd(::accept4(lfd, reinterpret_cast<sockaddr*>(&from), &len, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // EAGAIN; EMFILE and the like leave the connection in the backlog
    }
    IpAddress ip = IpAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&from));
    auto client = registry.find(ip);
    if (!client) {
      stats.add({}, &Counters::dropped_not_registered);
      continue;  // closed here
    }
    size_t same = 0;
    for (const auto& [_, c] : tcp_clients) same += c->ip == ip;
    if (tcp_clients.size() >= opts.max_tcp_connections || same >= opts.max_tcp_per_client) {
      stats.add(client->sandbox_id, &Counters::dropped_over_limit);
      continue;
    }
    stats.add(client->sandbox_id, &Counters::tcp_connections);
    auto c = std::make_unique<TcpClient>();
    c->id = next_tcp_id++;
    c->fd = std::move(fd);
    c->ip = ip;
    c->sandbox = std::move(client->sandbox_id);
    c->deadline_ms = loop.now_ms() + opts.tcp_idle_ms;
    c->poll = std::make_unique<uv::Poll>(loop, c->fd.get());
    TcpClient& ref = *c;
    tcp_clients.emplace(c->id, std::move(c));
    tcp_client_poll(ref);
  }
}

void Forwarder::Impl::tcp_client_poll(TcpClient& c) {
  int events = 0;
  if (!c.eof && c.in_flight < kTcpPipeline) events |= UV_READABLE;
  if (c.out_off < c.out.size()) events |= UV_WRITABLE;
  if (events == c.events) return;
  c.events = events;
  if (events == 0) {
    c.poll->stop();
    return;
  }
  uint64_t id = c.id;
  c.poll->start(events, [this, id](int status, int ev) {
    on_tcp_client(id, status < 0 ? UV_DISCONNECT : ev);
  });
}

void Forwarder::Impl::close_tcp_client(uint64_t id) { tcp_clients.erase(id); }

bool Forwarder::Impl::write_tcp_client(TcpClient& c) {
  while (c.out_off < c.out.size()) {
    ssize_t w = ::send(c.fd.get(), c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      close_tcp_client(c.id);
      return false;
    }
    c.out_off += static_cast<size_t>(w);
    c.deadline_ms = loop.now_ms() + opts.tcp_idle_ms;
  }
  if (c.out_off == c.out.size()) {
    c.out.clear();
    c.out_off = 0;
  }
  return true;
}

bool Forwarder::Impl::read_tcp_queries(TcpClient& c) {
  // Not re-entered: an answer made while a message is handled (REFUSED, an upstream that
  // fails at once) is only queued.
  if (c.processing) return true;
  c.processing = true;
  uint64_t id = c.id;
  size_t used = 0;
  while (c.in.size() - used >= 2 && c.in_flight < kTcpPipeline) {
    size_t len = get16(c.in, used);
    if (len < kHeaderSize) {
      stats.add(c.sandbox, &Counters::dropped_malformed);
      close_tcp_client(id);
      return false;
    }
    if (c.in.size() - used < 2 + len) break;
    std::span<const uint8_t> msg(c.in.data() + used + 2, len);
    used += 2 + len;
    c.deadline_ms = loop.now_ms() + opts.tcp_idle_ms;
    on_tcp_query(c, msg);
    if (!tcp_clients.contains(id)) return false;
  }
  c.in.erase(c.in.begin(), c.in.begin() + static_cast<std::ptrdiff_t>(used));
  c.processing = false;
  return true;
}

void Forwarder::Impl::settle_tcp_client(TcpClient& c) {
  if (c.eof && c.in_flight == 0 && c.out.empty() && !c.processing) {
    close_tcp_client(c.id);
    return;
  }
  tcp_client_poll(c);
}

void Forwarder::Impl::on_tcp_client(uint64_t id, int events) {
  auto it = tcp_clients.find(id);
  if (it == tcp_clients.end()) return;
  TcpClient& c = *it->second;
  if ((events & UV_WRITABLE) && !write_tcp_client(c)) return;
  if (events & (UV_READABLE | UV_DISCONNECT)) {
    // Every complete message is handled as it arrives; an incomplete one waits (the read
    // deadline bounds how long), so the buffer holds at most one message and one read.
    uint8_t buf[16384];
    ssize_t r = ::recv(c.fd.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (r == 0) {
      c.eof = true;  // the client has sent all it will; its answers are still written
    } else if (r < 0) {
      if (errno != EAGAIN && errno != EINTR) {
        close_tcp_client(id);
        return;
      }
    } else {
      c.in.insert(c.in.end(), buf, buf + r);
    }
  }
  if (!read_tcp_queries(c)) return;
  settle_tcp_client(c);
}

void Forwarder::Impl::queue_tcp_answer(uint64_t client, std::span<const uint8_t> msg) {
  auto it = tcp_clients.find(client);
  if (it == tcp_clients.end()) return;
  TcpClient& c = *it->second;
  if (c.out.size() - c.out_off + 2 + msg.size() > kTcpMaxQueued) {
    close_tcp_client(client);  // it does not read its answers
    return;
  }
  c.out.push_back(static_cast<uint8_t>(msg.size() >> 8));
  c.out.push_back(static_cast<uint8_t>(msg.size()));
  c.out.insert(c.out.end(), msg.begin(), msg.end());
  c.deadline_ms = loop.now_ms() + opts.tcp_idle_ms;
  if (!write_tcp_client(c)) return;
  settle_tcp_client(c);
}

void Forwarder::Impl::on_tcp_query(TcpClient& c, std::span<const uint8_t> msg) {
  auto query = parse_query(msg, Transport::tcp);
  if (!query) {
    stats.add(c.sandbox, &Counters::dropped_malformed);
    close_tcp_client(c.id);
    return;
  }
  stats.add(c.sandbox, &Counters::queries);
  auto refused = registry.find(c.ip);
  bool refuse = !refused || refused->refused || query->question.type == rrtype::axfr ||
                query->question.type == rrtype::ixfr;
  if (refuse || !admit(c.ip)) {
    // A TCP stream cannot skip a query silently without stalling the client: a query past
    // the bounds gets SERVFAIL at once, one refused REFUSED.
    stats.add(c.sandbox, refuse ? &Counters::refused : &Counters::dropped_over_limit);
    queue_tcp_answer(c.id, make_error_response(msg, *query, refuse ? rcode::refused : rcode::servfail));
    return;
  }
  auto t = std::make_unique<TcpUpstream>();
  t->id = next_tcp_id++;
  t->client = c.id;
  t->client_ip = c.ip;
  t->sandbox = c.sandbox;
  auto body = upstream_query(*query, msg);
  t->message.reserve(2 + body.size());
  t->message.push_back(static_cast<uint8_t>(body.size() >> 8));
  t->message.push_back(static_cast<uint8_t>(body.size()));
  t->message.insert(t->message.end(), body.begin(), body.end());
  t->query = std::move(*query);
  t->first_upstream = preferred_upstream;
  uint64_t id = t->id;
  tcp_upstreams.emplace(id, std::move(t));
  ++c.in_flight;
  start_tcp_attempt(id);
}

void Forwarder::Impl::start_tcp_attempt(uint64_t id) {
  auto it = tcp_upstreams.find(id);
  if (it == tcp_upstreams.end()) return;
  TcpUpstream& t = *it->second;
  t.poll.reset();
  t.fd.reset();
  t.connected = false;
  t.written = 0;
  t.in.clear();
  t.upstream = (t.first_upstream + t.attempt) % upstreams.size();
  t.deadline_ms = loop.now_ms() + opts.upstream_timeout_ms;
  const SocketAddress& to = upstreams[t.upstream];
  t.fd.reset(::socket(to.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!t.fd || (::connect(t.fd.get(), to.get(), to.length) != 0 && errno != EINPROGRESS)) {
    retry_tcp(id);
    return;
  }
  t.sent_id = random_u16();
  put16(std::span<uint8_t>(t.message).subspan(2), 0, t.sent_id);
  t.poll = std::make_unique<uv::Poll>(loop, t.fd.get());
  t.poll->start(UV_WRITABLE, [this, id](int status, int ev) { on_tcp_upstream(id, status, ev); });
}

void Forwarder::Impl::on_tcp_upstream(uint64_t id, int status, int events) {
  auto it = tcp_upstreams.find(id);
  if (it == tcp_upstreams.end()) return;
  TcpUpstream& t = *it->second;
  if (status < 0) {
    retry_tcp(id);
    return;
  }
  if (!t.connected && (events & UV_WRITABLE)) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(t.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      retry_tcp(id);
      return;
    }
    t.connected = true;
  }
  if (t.connected && t.written < t.message.size() && (events & UV_WRITABLE)) {
    ssize_t w = ::send(t.fd.get(), t.message.data() + t.written, t.message.size() - t.written, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w < 0 && errno != EAGAIN && errno != EINTR) {
      retry_tcp(id);
      return;
    }
    if (w > 0) t.written += static_cast<size_t>(w);
    if (t.written == t.message.size())
      t.poll->start(UV_READABLE, [this, id](int st, int ev) { on_tcp_upstream(id, st, ev); });
    return;
  }
  if (!(events & UV_READABLE)) return;
  uint8_t buf[16384];
  size_t want = t.in.size() < 2 ? 2 - t.in.size() : 2 + get16(t.in, 0) - t.in.size();
  ssize_t r = ::recv(t.fd.get(), buf, std::min(sizeof buf, want), MSG_DONTWAIT);
  if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (r <= 0) {
    retry_tcp(id);  // closed or failed before the whole answer came
    return;
  }
  t.in.insert(t.in.end(), buf, buf + r);
  if (t.in.size() < 2) return;
  size_t len = get16(t.in, 0);
  if (len < kHeaderSize) {
    stats.add(t.sandbox, &Counters::dropped_bad_answer);
    retry_tcp(id);
    return;
  }
  if (t.in.size() < 2 + len) return;
  std::span<const uint8_t> msg(t.in.data() + 2, len);
  auto head = parse_response_head(msg);
  if (!head || head->id != t.sent_id || head->question != t.query.question) {
    stats.add(t.sandbox, &Counters::dropped_bad_answer);
    retry_tcp(id);
    return;
  }
  if ((head->rcode == rcode::servfail || head->rcode == rcode::refused) && t.attempt + 1 < max_attempts) {
    retry_tcp(id);
    return;
  }
  auto out = prepare_answer(msg, *head, t.query, t.sandbox, kMaxTcpMessage);
  if (out.empty()) {
    stats.add(t.sandbox, &Counters::dropped_bad_answer);
    retry_tcp(id);
    return;
  }
  stats.add(t.sandbox, &Counters::answers);
  finish_tcp(id, out);
}

void Forwarder::Impl::retry_tcp(uint64_t id) {
  auto it = tcp_upstreams.find(id);
  if (it == tcp_upstreams.end()) return;
  TcpUpstream& t = *it->second;
  if (++t.attempt >= max_attempts) {
    stats.add(t.sandbox, &Counters::servfail);
    std::span<const uint8_t> query(t.message.data() + 2, t.message.size() - 2);
    auto answer = make_error_response(query, t.query, rcode::servfail);
    put16(answer, 0, t.query.id);
    finish_tcp(id, answer);
    return;
  }
  start_tcp_attempt(id);
}

void Forwarder::Impl::finish_tcp(uint64_t id, std::span<const uint8_t> answer) {
  auto it = tcp_upstreams.find(id);
  if (it == tcp_upstreams.end()) return;
  std::unique_ptr<TcpUpstream> t = std::move(it->second);
  tcp_upstreams.erase(it);
  release(t->client_ip);
  auto c = tcp_clients.find(t->client);
  if (c == tcp_clients.end()) return;  // the client went away; the answer has nowhere to go
  TcpClient& client = *c->second;
  --client.in_flight;
  queue_tcp_answer(t->client, answer);
  // Messages that waited while the pipeline was full are read now (unless this runs inside
  // read_tcp_queries, which goes on by itself).
  if (auto again = tcp_clients.find(t->client); again != tcp_clients.end() && !again->second->processing)
    on_tcp_client(t->client, 0);
}

}  // namespace nexus::net::dns
