// SPDX-License-Identifier: Apache-2.0
// One sandbox connection through the gateway, from accept to the audit record:
//
//   accept -> who is it (directory) -> read the head / ClientHello -> domain rules ->
//   resolve -> private-address and CIDR check -> credentials (off the loop) -> connect
//   (addresses in order, with a timeout each) -> splice both ways -> audit
//
// Data paths once connected (TLS pipes only when intercepting for credential injection):
//   sandbox -> [TlsPipe server] -> [RequestStream: check Host, inject] -> [TlsPipe client] -> upstream
//   upstream -> [TlsPipe client] -> [ResponseSniffer: status] -> [TlsPipe server] -> sandbox
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>

#include <fmt/format.h>

#include "common/strings.hpp"
#include "net/egress/client_hello.hpp"
#include "net/egress/gateway_internal.hpp"

namespace nexus::net::egress {

namespace {

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string printable(std::string_view s) {
  std::string out;
  // Audit fields stay short: a 16 KiB URL is cut to 2 KiB.
  for (char c : s.substr(0, 2048)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

// From <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h>, which clash with
// glibc's <netinet/in.h>; both are 80 and part of the kernel ABI.
constexpr int kSoOriginalDst = 80;
constexpr int kIp6tSoOriginalDst = 80;

// The destination the sandbox asked for, before the nft redirect rewrote it.
std::optional<Endpoint> original_destination(int fd, int family) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  int rc = family == 4 ? ::getsockopt(fd, SOL_IP, kSoOriginalDst, &ss, &len)
                       : ::getsockopt(fd, SOL_IPV6, kIp6tSoOriginalDst, &ss, &len);
  if (rc != 0) return std::nullopt;
  return Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
}

struct WriteReq {
  uv_write_t req;
  std::string data;
  Connection* conn;
  bool to_client;
};

}  // namespace

struct Connection {
  Gateway::Impl* gw;
  bool tls;  // came in on the TLS listener
  uv_tcp_t client{};
  uv_tcp_t* upstream = nullptr;  // one per connect attempt
  uv_timer_t timer{};
  int open_handles = 0;
  int pending_work = 0;  // queued credential lookups and write requests hold the connection
  bool closing = false;
  bool finished = false;
  bool counted = false;  // in gw->per_sandbox

  int64_t start_steady = steady_ms();
  AuditRecord rec;
  Endpoint peer, orig_dst;
  std::shared_ptr<const SandboxState> sb;
  std::shared_ptr<const GlobalPolicy> global;

  enum class Phase { first_bytes, deciding, connecting, splicing } phase = Phase::first_bytes;
  std::string inbuf;         // what the sandbox sent before the upstream was ready
  std::string host;          // normalized SNI / Host; empty when none
  bool domain_allowed = false;
  std::vector<Endpoint> candidates;
  size_t next_candidate = 0;
  std::string last_connect_error;
  uint64_t resolve_id = 0;
  bool resolving = false;

  std::vector<InjectHeader> inject;
  bool intercept = false;
  std::unique_ptr<RequestStream> requests;
  ResponseSniffer responses;
  bool sniff_responses = false;
  std::unique_ptr<TlsPipe> tls_client;    // facing the sandbox (we are the server)
  std::unique_ptr<TlsPipe> tls_upstream;  // facing the real server (we are the client)

  bool client_eof = false, upstream_eof = false;
  bool client_reading = false, upstream_reading = false;
  bool client_paused = false, upstream_paused = false;  // by backpressure
  bool upstream_shut = false, client_shut = false;

  explicit Connection(Gateway::Impl* g, bool t) : gw(g), tls(t) {}
  uv_stream_t* cs() { return reinterpret_cast<uv_stream_t*>(&client); }
  uv_stream_t* us() { return reinterpret_cast<uv_stream_t*>(upstream); }
};

namespace {

void finish(Connection* c, Outcome outcome, std::string reason);
void close_now(Connection* c);
void start_client_reading(Connection* c);
void start_upstream_reading(Connection* c);
void connect_next(Connection* c);
void from_client(Connection* c, std::string_view data);
void from_upstream(Connection* c, std::string_view data);

void maybe_delete(Connection* c) {
  if (c->open_handles == 0 && c->pending_work == 0) {
    if (c->counted && --c->gw->per_sandbox[c->rec.sandbox_id] == 0) c->gw->per_sandbox.erase(c->rec.sandbox_id);
    c->gw->connections.erase(c);
    c->gw->active--;
    delete c;
  }
}

void on_handle_closed(uv_handle_t* h) {
  auto* c = static_cast<Connection*>(h->data);
  if (reinterpret_cast<uv_tcp_t*>(h) != &c->client && h != reinterpret_cast<uv_handle_t*>(&c->timer))
    delete reinterpret_cast<uv_tcp_t*>(h);
  c->open_handles--;
  maybe_delete(c);
}

void close_handle(Connection* c, uv_handle_t* h) {
  if (!uv_is_closing(h)) uv_close(h, on_handle_closed);
  (void)c;
}

// Audit once; the outcome of the first call stands.
void finish(Connection* c, Outcome outcome, std::string reason) {
  if (c->finished) return;
  c->finished = true;
  c->rec.outcome = outcome;
  c->rec.reason = std::move(reason);
  c->rec.duration_ms = steady_ms() - c->start_steady;
  if (c->requests) {
    c->rec.requests = c->requests->requests();
    if (c->rec.method.empty()) {
      c->rec.method = printable(c->requests->first_method());
      c->rec.url = printable(c->requests->first_url());
    }
  }
  if (c->sniff_responses && c->responses.status() != 0) c->rec.status = c->responses.status();
  c->gw->record(c->rec);
}

void close_now(Connection* c) {
  if (c->closing) return;
  c->closing = true;
  // A spliced connection that ends without an error is simply done.
  if (!c->finished)
    c->phase == Connection::Phase::splicing ? finish(c, Outcome::allowed, "")
                                            : finish(c, Outcome::failed, "closed by the gateway");
  if (c->resolving) c->gw->resolver->cancel(c->resolve_id);
  close_handle(c, reinterpret_cast<uv_handle_t*>(&c->timer));
  close_handle(c, reinterpret_cast<uv_handle_t*>(&c->client));
  if (c->upstream) close_handle(c, reinterpret_cast<uv_handle_t*>(c->upstream));
}

void arm_timer(Connection* c, uint64_t ms, void (*cb)(uv_timer_t*)) {
  if (!c->closing) uv_timer_start(&c->timer, cb, ms, 0);
}

void on_idle(uv_timer_t* t) {
  auto* c = static_cast<Connection*>(t->data);
  if (c->phase == Connection::Phase::splicing) finish(c, Outcome::allowed, "idle timeout");
  else finish(c, Outcome::failed, "no request head or ClientHello in time");
  close_now(c);
}

void touch(Connection* c) {
  if (c->phase == Connection::Phase::splicing) arm_timer(c, c->gw->cfg.idle_timeout_ms, on_idle);
}

// --- writing, with backpressure --------------------------------------------------------

void on_written(uv_write_t* req, int status) {
  auto* w = static_cast<WriteReq*>(req->data);
  Connection* c = w->conn;
  bool to_client = w->to_client;
  delete w;
  c->pending_work--;
  if (c->closing) {
    maybe_delete(c);
    return;
  }
  if (status < 0) {
    finish(c, Outcome::allowed, fmt::format("{} write failed: {}", to_client ? "sandbox" : "upstream", uv_strerror(status)));
    close_now(c);
    return;
  }
  // The side that was paused because this one's queue was full may read again.
  if (to_client && c->upstream_paused && uv_stream_get_write_queue_size(c->cs()) < c->gw->cfg.max_queued / 2) {
    c->upstream_paused = false;
    start_upstream_reading(c);
  }
  if (!to_client && c->client_paused && c->upstream &&
      uv_stream_get_write_queue_size(c->us()) < c->gw->cfg.max_queued / 2) {
    c->client_paused = false;
    start_client_reading(c);
  }
}

void write_to(Connection* c, bool to_client, std::string data) {
  if (data.empty() || c->closing) return;
  uv_stream_t* s = to_client ? c->cs() : c->us();
  if (!s) return;
  if (to_client) c->rec.bytes_received += data.size();
  auto* w = new WriteReq{};
  w->data = std::move(data);
  w->conn = c;
  w->to_client = to_client;
  w->req.data = w;
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  c->pending_work++;
  if (int rc = uv_write(&w->req, s, &buf, 1, on_written); rc != 0) {
    c->pending_work--;
    delete w;
    finish(c, Outcome::allowed, fmt::format("write failed: {}", uv_strerror(rc)));
    close_now(c);
    return;
  }
  // Too much queued towards this side: stop reading from the other until it drains.
  if (uv_stream_get_write_queue_size(s) > c->gw->cfg.max_queued) {
    if (to_client && c->upstream_reading) {
      uv_read_stop(c->us());
      c->upstream_reading = false;
      c->upstream_paused = true;
    } else if (!to_client && c->client_reading) {
      uv_read_stop(c->cs());
      c->client_reading = false;
      c->client_paused = true;
    }
  }
}

void shutdown_side(Connection* c, bool client_side) {
  bool& done = client_side ? c->client_shut : c->upstream_shut;
  if (done || c->closing) return;
  done = true;
  uv_stream_t* s = client_side ? c->cs() : c->us();
  if (!s) return;
  auto* req = new uv_shutdown_t;
  req->data = c;
  c->pending_work++;
  if (uv_shutdown(req, s, [](uv_shutdown_t* r, int) {
        auto* conn = static_cast<Connection*>(r->data);
        delete r;
        conn->pending_work--;
        if (conn->closing) {
          maybe_delete(conn);
          return;
        }
        if (conn->client_shut && conn->upstream_shut) close_now(conn);
      }) != 0) {
    delete req;
    c->pending_work--;
  }
}

// A short answer from the gateway itself (HTTP only), then close.
void respond_and_close(Connection* c, int status, std::string_view reason_phrase, const std::string& text) {
  c->rec.status = status;
  if (c->tls) {
    close_now(c);
    return;
  }
  std::string body = text + "\n";
  std::string resp = fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n"
      "X-Nexus-Egress: {}\r\n\r\n{}",
      status, reason_phrase, body.size(), status == 403 ? "denied" : "error", body);
  if (c->client_reading) {
    uv_read_stop(c->cs());
    c->client_reading = false;
  }
  write_to(c, true, std::move(resp));
  c->upstream_shut = true;  // nothing upstream
  shutdown_side(c, true);
  // The shutdown callback closes; a client that never reads is cut by the timer.
  arm_timer(c, 5000, [](uv_timer_t* t) { close_now(static_cast<Connection*>(t->data)); });
}

void deny(Connection* c, const std::string& reason) {
  finish(c, Outcome::denied, reason);
  respond_and_close(c, 403, "Forbidden", "egress gateway: " + reason);
}

void fail_request(Connection* c, int status, std::string_view phrase, const std::string& reason) {
  finish(c, Outcome::failed, reason);
  respond_and_close(c, status, phrase, "egress gateway: " + reason);
}

// --- the two data paths ----------------------------------------------------------------

void upstream_plain(Connection* c, std::string data);
void client_plain_out(Connection* c, std::string data);

void pump_upstream_tls(Connection* c) {
  std::string plain;
  auto r = c->tls_upstream->pump(plain);
  write_to(c, false, c->tls_upstream->take_output());
  if (!r) {
    finish(c, Outcome::failed, "upstream " + r.error().message());
    close_now(c);
    return;
  }
  if (!plain.empty()) client_plain_out(c, std::move(plain));
  if (c->tls_upstream->peer_closed() && !c->upstream_eof) {
    c->upstream_eof = true;
    if (c->tls_client) {
      c->tls_client->shutdown();
      write_to(c, true, c->tls_client->take_output());
    }
    shutdown_side(c, true);
  }
}

void pump_client_tls(Connection* c) {
  std::string plain;
  auto r = c->tls_client->pump(plain);
  write_to(c, true, c->tls_client->take_output());
  if (!r) {
    finish(c, Outcome::failed, "sandbox " + r.error().message());
    close_now(c);
    return;
  }
  if (!plain.empty()) upstream_plain(c, std::move(plain));
}

// Plaintext towards the upstream: requests are checked and injected, then (re)encrypted.
void upstream_plain(Connection* c, std::string data) {
  if (c->closing) return;
  std::string out;
  if (c->requests) {
    auto r = c->requests->feed(data, out);
    if (!r) {
      // What was valid before the error still goes out; then the connection ends.
      if (c->tls_upstream) {
        c->tls_upstream->write(out);
        pump_upstream_tls(c);
      } else {
        write_to(c, false, std::move(out));
      }
      finish(c, r.error().is(Errc::permission_denied) ? Outcome::denied : Outcome::failed, r.error().message());
      close_now(c);
      return;
    }
  } else {
    out = std::move(data);
  }
  if (c->tls_upstream) {
    c->tls_upstream->write(out);
    pump_upstream_tls(c);
  } else {
    write_to(c, false, std::move(out));
  }
}

// Plaintext towards the sandbox.
void client_plain_out(Connection* c, std::string data) {
  if (c->closing) return;
  if (c->sniff_responses) c->responses.feed(data);
  if (c->tls_client) {
    c->tls_client->write(data);
    pump_client_tls(c);
  } else {
    write_to(c, true, std::move(data));
  }
}

void from_client(Connection* c, std::string_view data) {
  if (c->tls_client) {
    c->tls_client->feed(data);
    pump_client_tls(c);
  } else {
    upstream_plain(c, std::string(data));
  }
}

void from_upstream(Connection* c, std::string_view data) {
  if (c->tls_upstream) {
    c->tls_upstream->feed(data);
    pump_upstream_tls(c);
  } else {
    client_plain_out(c, std::string(data));
  }
}

void alloc_cb(uv_handle_t*, size_t, uv_buf_t* buf) {
  static thread_local char storage[64 * 1024];
  *buf = uv_buf_init(storage, sizeof(storage));
}

void on_first_bytes(Connection* c);

void on_client_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(s->data);
  if (c->closing || n == 0) return;
  if (n < 0) {
    if (n != UV_EOF) {
      finish(c, c->phase == Connection::Phase::splicing ? Outcome::allowed : Outcome::failed,
             fmt::format("sandbox connection: {}", uv_strerror(static_cast<int>(n))));
      close_now(c);
      return;
    }
    c->client_eof = true;
    uv_read_stop(s);
    c->client_reading = false;
    if (c->phase == Connection::Phase::first_bytes) {
      finish(c, Outcome::failed, "the sandbox closed before sending a complete request head or ClientHello");
      close_now(c);
      return;
    }
    // A half-close after a complete head (`printf 'GET ...' | nc -N`): passed on once connected.
    if (c->phase != Connection::Phase::splicing) return;
    if (c->tls_upstream) {
      c->tls_upstream->shutdown();
      write_to(c, false, c->tls_upstream->take_output());
    }
    shutdown_side(c, false);
    return;
  }
  c->rec.bytes_sent += static_cast<uint64_t>(n);
  std::string_view data(buf->base, static_cast<size_t>(n));
  if (c->phase == Connection::Phase::splicing) {
    touch(c);
    from_client(c, data);
    return;
  }
  c->inbuf.append(data);
  if (c->phase == Connection::Phase::first_bytes) on_first_bytes(c);
  // While deciding and connecting the sandbox may go on sending (a request body); keep it,
  // bounded, and stop reading past the bound until the upstream takes it.
  if (c->phase != Connection::Phase::first_bytes && c->inbuf.size() > c->gw->cfg.max_queued && c->client_reading) {
    uv_read_stop(c->cs());
    c->client_reading = false;
    c->client_paused = true;
  }
}

void on_upstream_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(s->data);
  if (c->closing || n == 0) return;
  if (n < 0) {
    uv_read_stop(s);
    c->upstream_reading = false;
    if (n != UV_EOF) {
      finish(c, Outcome::allowed, fmt::format("upstream connection: {}", uv_strerror(static_cast<int>(n))));
      close_now(c);
      return;
    }
    c->upstream_eof = true;
    if (c->tls_client) {
      c->tls_client->shutdown();
      write_to(c, true, c->tls_client->take_output());
    }
    shutdown_side(c, true);
    return;
  }
  touch(c);
  from_upstream(c, std::string_view(buf->base, static_cast<size_t>(n)));
}

void start_client_reading(Connection* c) {
  if (c->closing || c->client_reading || c->client_eof) return;
  if (uv_read_start(c->cs(), alloc_cb, on_client_read) == 0) c->client_reading = true;
}

void start_upstream_reading(Connection* c) {
  if (c->closing || c->upstream_reading || c->upstream_eof || !c->upstream) return;
  if (uv_read_start(c->us(), alloc_cb, on_upstream_read) == 0) c->upstream_reading = true;
}

// --- connected: set the pipes up and send what was read --------------------------------

void on_connected(Connection* c, const Endpoint& ep) {
  c->phase = Connection::Phase::splicing;
  c->rec.upstream = ep.to_string();
  uv_tcp_nodelay(c->upstream, 1);
  // Every request must name the host decided on; inside intercepted TLS that is the SNI
  // (no domain fronting).
  if (!c->tls || c->intercept) {
    c->requests = std::make_unique<RequestStream>(c->host, c->inject, kMaxRequestHead);
    c->sniff_responses = true;
  }
  if (c->intercept) {
    auto ctx = c->gw->ca->server_context(c->host);
    if (!ctx) {
      finish(c, Outcome::failed, ctx.error().message());
      close_now(c);
      return;
    }
    auto server = TlsPipe::server(*ctx);
    auto client = TlsPipe::client(c->gw->upstream_ctx.get(), c->host);
    if (!server || !client) {
      finish(c, Outcome::failed, "cannot start TLS sessions");
      close_now(c);
      return;
    }
    c->tls_client = std::move(*server);
    c->tls_upstream = std::move(*client);
    pump_upstream_tls(c);  // sends the upstream ClientHello
    if (c->closing) return;
  }
  touch(c);
  std::string pending = std::move(c->inbuf);
  c->inbuf.clear();
  if (!pending.empty()) from_client(c, pending);
  if (c->closing) return;
  start_upstream_reading(c);
  if (c->client_paused) c->client_paused = false;
  start_client_reading(c);
  if (c->client_eof) shutdown_side(c, false);
}

void on_connect_timeout(uv_timer_t* t) {
  auto* c = static_cast<Connection*>(t->data);
  c->last_connect_error = "connect timed out";
  // Closing the attempt's handle makes its connect callback run with UV_ECANCELED.
  if (c->upstream) close_handle(c, reinterpret_cast<uv_handle_t*>(c->upstream));
}

struct ConnectReq {
  uv_connect_t req;
  Connection* conn;
  Endpoint ep;
  uv_tcp_t* handle;
};

void connect_next(Connection* c) {
  if (c->closing) return;
  if (c->next_candidate >= c->candidates.size()) {
    std::string reason = fmt::format("cannot connect to {}: {}", c->host.empty() ? c->orig_dst.ip() : c->host,
                                     c->last_connect_error.empty() ? "no address" : c->last_connect_error);
    finish(c, Outcome::failed, reason);
    respond_and_close(c, 502, "Bad Gateway", "egress gateway: " + reason);
    return;
  }
  Endpoint ep = c->candidates[c->next_candidate++];
  c->upstream = new uv_tcp_t;
  uv_tcp_init(&c->gw->loop, c->upstream);
  c->upstream->data = c;
  c->open_handles++;
  auto* req = new ConnectReq{};
  req->conn = c;
  req->ep = ep;
  req->handle = c->upstream;
  req->req.data = req;
  socklen_t len = 0;
  sockaddr_storage ss = ep.to_sockaddr(&len);
  c->pending_work++;
  int rc = uv_tcp_connect(&req->req, c->upstream, reinterpret_cast<sockaddr*>(&ss), [](uv_connect_t* r, int status) {
    auto* cr = static_cast<ConnectReq*>(r->data);
    Connection* conn = cr->conn;
    Endpoint where = cr->ep;
    uv_tcp_t* handle = cr->handle;
    delete cr;
    conn->pending_work--;
    if (conn->closing) {
      maybe_delete(conn);
      return;
    }
    uv_timer_stop(&conn->timer);
    if (status == 0 && conn->upstream == handle && !uv_is_closing(reinterpret_cast<uv_handle_t*>(handle))) {
      on_connected(conn, where);
      return;
    }
    if (status != 0 && status != UV_ECANCELED) conn->last_connect_error = fmt::format("{}: {}", where.to_string(), uv_strerror(status));
    else if (status == UV_ECANCELED) conn->last_connect_error = fmt::format("{}: connect timed out", where.to_string());
    close_handle(conn, reinterpret_cast<uv_handle_t*>(handle));
    conn->upstream = nullptr;
    connect_next(conn);
  });
  if (rc != 0) {
    delete req;
    c->pending_work--;
    c->last_connect_error = fmt::format("{}: {}", ep.to_string(), uv_strerror(rc));
    close_handle(c, reinterpret_cast<uv_handle_t*>(c->upstream));
    c->upstream = nullptr;
    connect_next(c);
    return;
  }
  arm_timer(c, c->gw->cfg.connect_timeout_ms, on_connect_timeout);
}

// --- credentials, off the loop ----------------------------------------------------------

struct CredentialWork {
  uv_work_t req;
  Connection* conn;
  std::vector<InjectRule> rules;
  std::vector<InjectHeader> values;
  std::string error;
};

void fetch_credentials_then_connect(Connection* c, std::vector<InjectRule> rules) {
  auto* w = new CredentialWork{};
  w->conn = c;
  w->rules = std::move(rules);
  w->req.data = w;
  c->pending_work++;
  int rc = uv_queue_work(
      &c->gw->loop, &w->req,
      [](uv_work_t* r) {
        auto* work = static_cast<CredentialWork*>(r->data);
        for (const auto& rule : work->rules) {
          auto v = work->conn->gw->credentials.get(rule.provider);
          if (!v) {
            work->error = fmt::format("credential for {} header {}: {}", rule.host.to_string(), rule.header, v.error().message());
            work->values.clear();
            return;
          }
          work->values.push_back({rule.header, std::move(*v)});
        }
      },
      [](uv_work_t* r, int status) {
        auto* work = static_cast<CredentialWork*>(r->data);
        Connection* conn = work->conn;
        conn->pending_work--;
        if (conn->closing) {
          delete work;
          maybe_delete(conn);
          return;
        }
        if (status != 0 || !work->error.empty()) {
          std::string err = status != 0 ? "credential lookup cancelled" : work->error;
          delete work;
          fail_request(conn, 502, "Bad Gateway", err);
          return;
        }
        conn->inject = std::move(work->values);
        delete work;
        conn->phase = Connection::Phase::connecting;
        connect_next(conn);
      });
  if (rc != 0) {
    c->pending_work--;
    delete w;
    fail_request(c, 502, "Bad Gateway", "cannot queue the credential lookup");
  }
}

// --- deciding ---------------------------------------------------------------------------

void candidates_ready(Connection* c, std::vector<Endpoint> addrs) {
  std::string first_reason;
  for (const auto& a : addrs) {
    auto v = check_address(*c->sb, c->domain_allowed, a);
    if (v.allowed) c->candidates.push_back(a.unmapped());
    else if (first_reason.empty()) first_reason = v.reason;
  }
  if (c->candidates.empty()) {
    std::string what = c->host.empty() ? c->orig_dst.to_string() : "host " + c->host;
    deny(c, fmt::format("{}: {}", what, first_reason));
    return;
  }
  std::vector<InjectRule> rules;
  if (!c->host.empty() && !is_ip_literal(c->host))
    for (const auto* r : matching_rules(c->sb->policy.inject, c->global->inject, c->host)) rules.push_back(*r);
  // HTTPS is decrypted only for a host with an injection rule; everything else is spliced.
  c->intercept = c->tls && !rules.empty();
  c->rec.intercepted = c->intercept;
  if (!rules.empty()) {
    fetch_credentials_then_connect(c, std::move(rules));
    return;
  }
  c->phase = Connection::Phase::connecting;
  connect_next(c);
}

void decide(Connection* c) {
  c->phase = Connection::Phase::deciding;
  uv_timer_stop(&c->timer);
  // Reading goes on while deciding (bounded in on_client_read), so a sandbox that closes
  // early or sends its body at once is seen.
  c->rec.host = c->host;
  if (c->host.empty()) {
    candidates_ready(c, {c->orig_dst});
    return;
  }
  if (is_ip_literal(c->host)) {
    auto ep = Endpoint::parse_ip(c->host, c->orig_dst.port);
    candidates_ready(c, {*ep});
    return;
  }
  auto d = decide_domain(c->sb->policy.domains, c->global->domains, c->host);
  if (d.verdict == DomainVerdict::deny) {
    deny(c, fmt::format("host {} is denied by the {} pattern {}", c->host, d.layer, d.pattern));
    return;
  }
  c->domain_allowed = d.verdict == DomainVerdict::allow;
  c->resolving = true;
  c->resolve_id = c->gw->resolver->resolve(c->host, c->orig_dst.port, [c](Result<std::vector<Endpoint>> r) {
    c->resolving = false;
    if (c->closing) return;
    if (!r) {
      fail_request(c, 502, "Bad Gateway", r.error().message());
      return;
    }
    candidates_ready(c, std::move(*r));
  });
}

void on_first_bytes(Connection* c) {
  if (c->tls) {
    auto info = parse_client_hello(c->inbuf);
    using S = ClientHelloInfo::Status;
    if (info.status == S::need_more) {
      if (c->inbuf.size() > kMaxClientHello + 1024) {
        finish(c, Outcome::failed, "ClientHello spread over too many bytes");
        close_now(c);
      }
      return;
    }
    if (info.status != S::ok) {
      finish(c, Outcome::failed, "not a usable TLS ClientHello: " + info.error);
      close_now(c);
      return;
    }
    c->host = info.sni;
    decide(c);
    return;
  }
  auto head = parse_request_head(c->inbuf, kMaxRequestHead);
  using S = HeadParse::Status;
  if (head.status == S::need_more) return;
  if (head.status == S::bad_request) {
    fail_request(c, 400, "Bad Request", head.error);
    return;
  }
  if (head.status == S::too_large) {
    fail_request(c, 431, "Request Header Fields Too Large", head.error);
    return;
  }
  c->rec.method = head.head.method;
  c->rec.url = printable(head.head.url);
  const std::string host_header = head.head.host();
  if (!host_header.empty()) {
    auto h = normalize_host(host_header);
    if (!h) {
      fail_request(c, 400, "Bad Request", h.error().message());
      return;
    }
    c->host = *h;
  }
  decide(c);
}

void refuse(Connection* c, std::string reason) {
  finish(c, Outcome::refused, std::move(reason));
  close_now(c);
}

}  // namespace

void accept_connection(Listener* l) {
  Gateway::Impl* gw = l->gw;
  auto* c = new Connection(gw, l->tls);
  gw->connections.insert(c);
  gw->active++;
  uv_tcp_init(&gw->loop, &c->client);
  c->client.data = c;
  c->open_handles++;
  uv_timer_init(&gw->loop, &c->timer);
  c->timer.data = c;
  c->open_handles++;
  c->rec.time_ms = unix_now_ms();
  c->rec.scheme = l->tls ? "https" : "http";
  if (uv_accept(reinterpret_cast<uv_stream_t*>(&l->handle), c->cs()) != 0) {
    c->finished = true;  // nothing was accepted: nothing to audit
    close_now(c);
    return;
  }
  sockaddr_storage ss{};
  int len = sizeof(ss);
  uv_tcp_getpeername(&c->client, reinterpret_cast<sockaddr*>(&ss), &len);
  auto peer = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
  if (peer) c->peer = peer->unmapped();
  c->rec.client = c->peer.to_string();
  uv_os_fd_t fd = -1;
  uv_fileno(reinterpret_cast<uv_handle_t*>(&c->client), &fd);
  auto dst = peer ? original_destination(fd, peer->family) : std::nullopt;
  if (dst) {
    c->orig_dst = dst->unmapped();
    c->rec.original_dst = c->orig_dst.to_string();
  }
  if (!gw->ready) return refuse(c, "the gateway is not ready (policies not loaded yet)");
  if (gw->active > gw->cfg.max_connections) return refuse(c, "too many connections");
  c->sb = peer ? gw->sandboxes->find(c->peer) : nullptr;
  if (!c->sb) return refuse(c, fmt::format("unknown peer {}", c->peer.ip()));
  c->rec.sandbox_id = c->sb->policy.id;
  if (gw->per_sandbox[c->rec.sandbox_id] >= gw->cfg.max_connections_per_sandbox) {
    if (gw->per_sandbox[c->rec.sandbox_id] == 0) gw->per_sandbox.erase(c->rec.sandbox_id);
    return refuse(c, "too many connections from this sandbox");
  }
  gw->per_sandbox[c->rec.sandbox_id]++;
  c->counted = true;
  if (!dst) return refuse(c, "no original destination (the connection was not redirected here)");
  c->global = gw->global_snapshot();
  uv_tcp_nodelay(&c->client, 1);
  arm_timer(c, gw->cfg.first_bytes_timeout_ms, on_idle);
  start_client_reading(c);
}

void close_all_connections(Gateway::Impl* gw) {
  std::vector<Connection*> all(gw->connections.begin(), gw->connections.end());
  for (auto* c : all) {
    finish(c, c->phase == Connection::Phase::splicing ? Outcome::allowed : Outcome::failed, "the gateway stopped");
    close_now(c);
  }
}

}  // namespace nexus::net::egress
