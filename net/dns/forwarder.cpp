// SPDX-License-Identifier: Apache-2.0
// The forwarder: options, sockets, the thread, timeouts, and what UDP and TCP share.
#include "net/dns/forwarder.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <sys/socket.h>

#include <algorithm>

#include <fmt/format.h>

#include "net/dns/forwarder_impl.hpp"
#include "net/dns/rebind_filter.hpp"

namespace nexus::net::dns {

namespace {

constexpr uint32_t kMaxInFlightLimit = 16384;
constexpr uint64_t kTickMs = 50;
constexpr size_t kReceiveBuffer = 4 << 20;

Result<void> set_nonblocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return fail_errno("fcntl O_NONBLOCK");
  (void)::fcntl(fd, F_SETFD, FD_CLOEXEC);  // best effort: an inherited fd may be shared
  return {};
}

// Asks the kernel for each datagram's destination address, so the answer leaves from the
// address the sandbox sent its query to (the redirect's target), whatever the routing says.
Result<void> enable_pktinfo(int fd, int family) {
  int one = 1;
  int r = family == AF_INET ? ::setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one)
                            : ::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
  if (r != 0) return fail_errno("setsockopt PKTINFO");
  return {};
}

Result<SocketAddress> local_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return fail_errno("getsockname");
  return SocketAddress::from(reinterpret_cast<sockaddr*>(&ss), len);
}

// Every sandbox sends to one socket: a burst from many of them (or a flood from one) should
// be counted and dropped by the forwarder, not lost in a full kernel buffer beforehand.
void grow_receive_buffer(int fd) {
  int size = static_cast<int>(kReceiveBuffer);
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
    (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);  // held to rmem_max then
}

// A fresh listening socket; nullopt-like Errc::unavailable when the host lacks the family.
Result<UniqueFd> bind_socket(const SocketAddress& a, int type) {
  UniqueFd fd(::socket(a.family(), type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    if (errno == EAFNOSUPPORT) return fail(Errc::unavailable, "address family not supported");
    return fail_errno("socket");
  }
  int one = 1;
  if (type == SOCK_STREAM) (void)::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // [::] and 0.0.0.0 are bound side by side, so the IPv6 socket takes IPv6 only.
  if (a.family() == AF_INET6) (void)::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (type == SOCK_DGRAM) {
    NEXUS_TRY(enable_pktinfo(fd.get(), a.family()));
    grow_receive_buffer(fd.get());
  }
  if (::bind(fd.get(), a.get(), a.length) != 0) {
    if (a.family() == AF_INET6 && (errno == EADDRNOTAVAIL || errno == EAFNOSUPPORT))
      return fail(Errc::unavailable, "no IPv6 on this host");
    return fail_errno("bind");
  }
  if (type == SOCK_STREAM && ::listen(fd.get(), 128) != 0) return fail_errno("listen");
  return fd;
}

Result<Socket> adopt(UniqueFd fd, int want_type) {
  int raw = fd.get();
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_TYPE, &type, &len) != 0)
    return fail_errno(fmt::format("handed-over fd {} is not a socket", raw));
  if (type != want_type)
    return fail(Errc::invalid_argument, fmt::format("handed-over fd {} is a {} socket, not {}", raw,
                                                    type == SOCK_STREAM ? "TCP" : "UDP",
                                                    want_type == SOCK_STREAM ? "TCP" : "UDP"));
  auto local = local_address(fd.get());
  if (!local) return fail(std::move(local.error()));
  if (local->family() != AF_INET && local->family() != AF_INET6)
    return fail(Errc::invalid_argument, fmt::format("handed-over fd {} is not an IP socket", raw));
  NEXUS_TRY(set_nonblocking(fd.get()));
  if (want_type == SOCK_DGRAM) {
    NEXUS_TRY(enable_pktinfo(fd.get(), local->family()));
    grow_receive_buffer(fd.get());
  }
  return Socket{std::move(fd), local->family(), nullptr};
}

}  // namespace

Result<void> Forwarder::Impl::open_sockets() {
  std::vector<std::pair<UniqueFd, int>> handed;
  for (int raw : opts.udp_fds) handed.emplace_back(UniqueFd(raw), SOCK_DGRAM);
  for (int raw : opts.tcp_fds) handed.emplace_back(UniqueFd(raw), SOCK_STREAM);
  for (auto& [fd, type] : handed) {
    auto s = adopt(std::move(fd), type);
    if (!s) return fail(std::move(s.error()).wrap(type == SOCK_DGRAM ? "DNS forwarder UDP socket" : "DNS forwarder TCP socket"));
    (type == SOCK_DGRAM ? udp_listeners : tcp_listeners).push_back(std::move(*s));
  }
  if (opts.udp_fds.empty() && opts.tcp_fds.empty()) {
    for (const auto& text : opts.listen) {
      auto a = SocketAddress::parse(text, 15053);
      if (!a) return fail(std::move(a.error()).wrap("DNS forwarder listen address"));
      for (int type : {SOCK_DGRAM, SOCK_STREAM}) {
        auto fd = bind_socket(*a, type);
        if (!fd && fd.error().is(Errc::unavailable) && a->family() == AF_INET6) break;
        if (!fd)
          return fail(std::move(fd.error())
                          .wrap(fmt::format("DNS forwarder: {} {}", type == SOCK_DGRAM ? "UDP" : "TCP", a->to_string())));
        (type == SOCK_DGRAM ? udp_listeners : tcp_listeners).push_back(Socket{std::move(*fd), a->family(), nullptr});
      }
    }
  }
  if (udp_listeners.empty() && tcp_listeners.empty())
    return fail(Errc::invalid_argument, "DNS forwarder: nothing to listen on");
  for (const auto& s : udp_listeners)
    if (auto a = local_address(s.fd.get())) udp_bound.push_back(*a);
  for (const auto& s : tcp_listeners)
    if (auto a = local_address(s.fd.get())) tcp_bound.push_back(*a);

  // Upstream sockets, for the families the upstreams use; the kernel picks random ports.
  for (int family : {AF_INET, AF_INET6}) {
    if (std::none_of(upstreams.begin(), upstreams.end(), [&](const auto& u) { return u.family() == family; }))
      continue;
    for (size_t i = 0; i < kUpstreamSocketsPerFamily; ++i) {
      UniqueFd fd(::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      if (!fd) return fail_errno("DNS forwarder: upstream socket");
      grow_receive_buffer(fd.get());
      upstream_sockets.push_back(Socket{std::move(fd), family, nullptr});
    }
  }
  return {};
}

void Forwarder::Impl::start_polls() {
  for (size_t i = 0; i < udp_listeners.size(); ++i) {
    udp_listeners[i].poll = std::make_unique<uv::Poll>(loop, udp_listeners[i].fd.get());
    udp_listeners[i].poll->start(UV_READABLE, [this, i](int, int) { on_udp_listener(i); });
  }
  for (size_t i = 0; i < tcp_listeners.size(); ++i) {
    tcp_listeners[i].poll = std::make_unique<uv::Poll>(loop, tcp_listeners[i].fd.get());
    tcp_listeners[i].poll->start(UV_READABLE, [this, i](int, int) { on_tcp_listener(i); });
  }
  for (size_t i = 0; i < upstream_sockets.size(); ++i) {
    upstream_sockets[i].poll = std::make_unique<uv::Poll>(loop, upstream_sockets[i].fd.get());
    upstream_sockets[i].poll->start(UV_READABLE, [this, i](int, int) { on_upstream_socket(i); });
  }
  tick = std::make_unique<uv::Timer>(loop);
  tick->start(kTickMs, kTickMs, [this] { on_tick(); });
}

void Forwarder::Impl::on_tick() {
  uint64_t now = loop.now_ms();
  std::vector<uint16_t> expired;
  udp_pending.for_each([&](uint16_t id, UdpPending& p) {
    if (p.deadline_ms <= now) expired.push_back(id);
  });
  for (uint16_t id : expired) {
    UdpPending* p = udp_pending.find(id);
    if (!p) continue;
    stats.add(p->sandbox, &Counters::upstream_timeouts);
    // Later queries start at the next upstream while this one does not answer.
    if (preferred_upstream == p->upstream) preferred_upstream = (p->upstream + 1) % upstreams.size();
    retry_udp(id);
  }
  std::vector<uint64_t> late;
  for (auto& [id, t] : tcp_upstreams)
    if (t->deadline_ms <= now) late.push_back(id);
  for (uint64_t id : late) {
    auto it = tcp_upstreams.find(id);
    if (it == tcp_upstreams.end()) continue;
    stats.add(it->second->sandbox, &Counters::upstream_timeouts);
    if (preferred_upstream == it->second->upstream)
      preferred_upstream = (it->second->upstream + 1) % upstreams.size();
    retry_tcp(id);
  }
  std::vector<uint64_t> idle;
  for (auto& [id, c] : tcp_clients)
    if (c->deadline_ms <= now && c->in_flight == 0) idle.push_back(id);
  for (uint64_t id : idle) close_tcp_client(id);
  stats.set_gauges(in_flight, tcp_clients.size());
}

void Forwarder::Impl::shutdown() {
  tcp_upstreams.clear();
  tcp_clients.clear();
  for (auto* v : {&udp_listeners, &tcp_listeners, &upstream_sockets})
    for (auto& s : *v) s.poll.reset();
  tick.reset();
  stop_async.reset();
  loop.stop();
}

bool Forwarder::Impl::admit(const IpAddress& ip) {
  if (in_flight >= opts.max_in_flight) return false;
  unsigned& n = in_flight_per_client[ip];
  if (n >= opts.max_in_flight_per_client) return false;
  ++n;
  ++in_flight;
  return true;
}

void Forwarder::Impl::release(const IpAddress& ip) {
  auto it = in_flight_per_client.find(ip);
  if (it != in_flight_per_client.end() && --it->second == 0) in_flight_per_client.erase(it);
  if (in_flight > 0) --in_flight;
}

std::vector<uint8_t> Forwarder::Impl::upstream_query(const Query& query, std::span<const uint8_t> message) {
  std::vector<uint8_t> out(message.begin(), message.end());
  // The client's EDNS size goes upstream as it is, except that no answer larger than this
  // forwarder relays over UDP is asked for.
  if (query.edns_size_offset != 0 && get16(out, query.edns_size_offset) > kMaxUdpEdns)
    put16(out, query.edns_size_offset, static_cast<uint16_t>(kMaxUdpEdns));
  return out;
}

std::vector<uint8_t> Forwarder::Impl::prepare_answer(std::span<const uint8_t> answer, const ResponseHead& head,
                                                     const Query& query, const std::string& sandbox, size_t limit) {
  std::vector<uint8_t> out;
  if (opts.stop_rebind) {
    auto filtered = strip_private_answers(answer, local_domains);
    if (!filtered) {
      // A truncated answer may be cut mid-record by an old server: the client retries over
      // TCP anyway, so it gets the question alone. Anything else unreadable is not relayed.
      if (!head.truncated) return {};
      out = make_truncated(answer, head.question_end);
    } else if (!filtered->message.empty()) {
      stats.add(sandbox, &Counters::private_removed, filtered->removed);
      out = std::move(filtered->message);
    }
  }
  size_t question_end = head.question_end;
  if (out.empty()) {
    out.assign(answer.begin(), answer.end());
  } else if (auto rewritten = parse_response_head(out)) {
    question_end = rewritten->question_end;  // a rewrite writes the question out in full
  }
  if (out.size() > limit) out = make_truncated(out, question_end);
  put16(out, 0, query.id);
  if (get16(out, 2) & 0x0200) stats.add(sandbox, &Counters::truncated);
  return out;
}

// ---- the public face

Forwarder::Forwarder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Forwarder>> Forwarder::start(ForwarderOptions options) {
  auto impl = std::make_unique<Impl>();
  // Handed-over fds are owned from here on, whatever fails below.
  std::vector<UniqueFd> owned;
  for (int fd : options.udp_fds) owned.emplace_back(fd);
  for (int fd : options.tcp_fds) owned.emplace_back(fd);
  auto bad = [](std::string what) { return fail(Errc::invalid_argument, "DNS forwarder: " + what); };
  if (options.max_in_flight == 0 || options.max_in_flight > kMaxInFlightLimit)
    return bad(fmt::format("max_in_flight {} is not within 1-{}", options.max_in_flight, kMaxInFlightLimit));
  if (options.max_in_flight_per_client == 0) return bad("max_in_flight_per_client is 0");
  if (options.max_tcp_connections == 0 || options.max_tcp_per_client == 0) return bad("a TCP connection limit is 0");
  if (options.upstream_timeout_ms < 10 || options.upstream_timeout_ms > 60000)
    return bad(fmt::format("upstream_timeout_ms {} is not within 10-60000", options.upstream_timeout_ms));
  if (options.tcp_idle_ms < 100 || options.tcp_idle_ms > 600000)
    return bad(fmt::format("tcp_idle_ms {} is not within 100-600000", options.tcp_idle_ms));
  if (options.attempts > 16) return bad(fmt::format("attempts {} is more than 16", options.attempts));

  if (options.upstreams.empty()) {
    auto ns = resolv_conf_nameservers(options.resolv_conf);
    if (!ns) return fail(std::move(ns.error()).wrap("DNS forwarder upstreams"));
    impl->upstreams = std::move(*ns);
  } else {
    if (options.upstreams.size() > 16) return bad("more than 16 upstreams");
    for (const auto& text : options.upstreams) {
      auto a = SocketAddress::parse(text, 53);
      if (!a) return fail(std::move(a.error()).wrap("DNS forwarder upstream"));
      impl->upstreams.push_back(*a);
    }
  }
  for (const auto& d : options.local_domains) {
    auto wire = encode_name(d);
    if (!wire) return fail(std::move(wire.error()).wrap("DNS forwarder local domain"));
    impl->local_domains.push_back(std::move(*wire));
  }
  impl->max_attempts = options.attempts != 0
                           ? options.attempts
                           : std::max<unsigned>(2, static_cast<unsigned>(impl->upstreams.size()));
  impl->udp_pending = IdMap<UdpPending>(options.max_in_flight);
  for (auto& fd : owned) (void)fd.release();  // adopt() takes them over now
  impl->opts = std::move(options);
  NEXUS_TRY(impl->open_sockets());

  impl->start_polls();
  Impl* raw = impl.get();
  impl->stop_async = std::make_unique<uv::Async>(impl->loop, [raw] { raw->shutdown(); });
  impl->thread = std::thread([raw] { raw->loop.run(); });
  return std::unique_ptr<Forwarder>(new Forwarder(std::move(impl)));
}

Forwarder::~Forwarder() {
  if (impl_->stop_async) impl_->stop_async->send();
  if (impl_->thread.joinable()) impl_->thread.join();
}

Result<void> Forwarder::add_client(std::string_view ip, std::string_view sandbox_id,
                                   std::string_view interface) {
  auto a = IpAddress::parse(ip);
  if (!a) return fail(std::move(a.error()).wrap("DNS client"));
  unsigned ifindex = 0;
  if (!interface.empty()) {
    ifindex = ::if_nametoindex(std::string(interface).c_str());
    if (ifindex == 0)
      return fail(Errc::not_found, fmt::format("DNS client {}: no interface {}", ip, interface));
  }
  return impl_->registry.add(*a, sandbox_id, ifindex);
}

Result<void> Forwarder::remove_client(std::string_view ip) {
  auto a = IpAddress::parse(ip);
  if (!a) return fail(std::move(a.error()).wrap("DNS client"));
  std::string gone;
  if (impl_->registry.remove(*a, &gone)) impl_->stats.forget(gone);
  return {};
}

void Forwarder::remove_sandbox(std::string_view sandbox_id) {
  impl_->registry.remove_sandbox(sandbox_id);
  impl_->stats.forget(sandbox_id);
}

void Forwarder::set_dns_refused(std::string_view sandbox_id, bool refused) {
  impl_->registry.set_refused(sandbox_id, refused);
}

ForwarderStats Forwarder::stats() const { return impl_->stats.snapshot(); }
const std::vector<SocketAddress>& Forwarder::upstreams() const { return impl_->upstreams; }
const std::vector<SocketAddress>& Forwarder::udp_addresses() const { return impl_->udp_bound; }
const std::vector<SocketAddress>& Forwarder::tcp_addresses() const { return impl_->tcp_bound; }

}  // namespace nexus::net::dns
