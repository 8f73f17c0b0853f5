// SPDX-License-Identifier: Apache-2.0
// The sandboxes' DNS forwarder. nexusd runs one for all sandboxes, in the host namespace:
// nftables redirects a sandbox's UDP and TCP port 53 traffic for its gateway address to the
// forwarder's port (15053 by default), and the forwarder relays each query to the upstream
// resolvers (the host's resolv.conf by default) after checking it, with a fresh random ID,
// and relays the matching answer back with private addresses removed (rebinding protection).
// Only addresses nexusd registered are served. See net/dns/README.md.
//
// Threads: the forwarder has its own thread and libuv loop. Every public method may be called
// from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "net/dns/address.hpp"
#include "net/dns/stats.hpp"

namespace nexus::net::dns {

struct ForwarderOptions {
  /// Addresses to bind, UDP and TCP each ("0.0.0.0:15053", "[::]:15053"). An IPv6 address is
  /// skipped when the host has no IPv6. Ignored when listening sockets are handed over.
  std::vector<std::string> listen = {"0.0.0.0:15053", "[::]:15053"};
  /// Bound UDP sockets and listening TCP sockets handed over (socket activation); the
  /// forwarder owns them from start() on, also when start() fails.
  std::vector<int> udp_fds;
  std::vector<int> tcp_fds;
  /// Upstream resolvers, "addr" or "addr:port" (see SocketAddress::parse); empty: the
  /// nameservers of `resolv_conf`.
  std::vector<std::string> upstreams;
  std::string resolv_conf = "/etc/resolv.conf";
  /// How long one attempt waits for an upstream before the next one is tried.
  uint32_t upstream_timeout_ms = 1500;
  /// Attempts per query, each to the next upstream; 0: one per upstream, at least 2.
  uint32_t attempts = 0;
  /// Queries waiting for an upstream, in total and per client address; more are dropped.
  uint32_t max_in_flight = 1024;
  uint32_t max_in_flight_per_client = 64;
  /// Client TCP connections, in total and per client address; more are closed at once.
  uint32_t max_tcp_connections = 128;
  uint32_t max_tcp_per_client = 8;
  /// A TCP client must send its next complete message within this time (read deadline).
  uint32_t tcp_idle_ms = 10000;
  /// Remove private, loopback, link-local and metadata A/AAAA records from answers.
  bool stop_rebind = true;
  /// Names at or below these domains ("corp.example") keep private answers.
  std::vector<std::string> local_domains;
};

class Forwarder {
 public:
  /// Binds (or adopts) the sockets, reads the upstreams and starts the thread. Errors name
  /// the address or option that was wrong.
  static Result<std::unique_ptr<Forwarder>> start(ForwarderOptions options);
  /// Stops the thread and closes every socket.
  ~Forwarder();
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  /// Serves queries from `ip` (a sandbox's address, IPv4 or IPv6) as `sandbox_id`. With
  /// `interface` (the sandbox's host-side veth, "nxs..."), UDP queries claiming `ip` count only
  /// when they arrive through it. Errc::not_found for an interface that does not exist.
  Result<void> add_client(std::string_view ip, std::string_view sandbox_id,
                          std::string_view interface = {});
  /// Stops serving `ip`; the sandbox's statistics go when its last address goes.
  Result<void> remove_client(std::string_view ip);
  /// Stops serving all of a sandbox's addresses and forgets its statistics.
  void remove_sandbox(std::string_view sandbox_id);
  /// A sandbox whose policy denies all egress gets REFUSED for every query (`refused` true).
  void set_dns_refused(std::string_view sandbox_id, bool refused);

  ForwarderStats stats() const;
  const std::vector<SocketAddress>& upstreams() const;
  /// The addresses really bound (an ephemeral port resolved), UDP and TCP.
  const std::vector<SocketAddress>& udp_addresses() const;
  const std::vector<SocketAddress>& tcp_addresses() const;

  struct Impl;

 private:
  explicit Forwarder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace nexus::net::dns
