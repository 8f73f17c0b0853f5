// SPDX-License-Identifier: Apache-2.0
// The egress gateway: sandbox TCP to ports 80 and 443, redirected here by the host firewall,
// is read just far enough to know the host (HTTP Host, TLS SNI), decided on (domain rules,
// the private-address check after DNS, the sandbox's CIDR rules), then spliced to the real
// server. Credentials are injected as headers on HTTP, and on HTTPS by terminating TLS with a
// gateway CA, only for hosts that have an injection rule. One audit record per connection.
//
// Threads: the gateway runs its own libuv loop on its own thread. Every public method is
// thread-safe and may be called from nexusd's API thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/json.hpp"
#include "common/result.hpp"
#include "net/egress/address.hpp"
#include "net/egress/audit.hpp"
#include "net/egress/directory.hpp"
#include "net/egress/global_policy.hpp"
#include "net/egress/resolver.hpp"

namespace nexus::net::egress {

struct GatewayConfig {
  /// Addresses to listen on for plain HTTP ("0.0.0.0:15080", "[::]:15080"; port 0 picks one).
  std::vector<std::string> http_listen{"0.0.0.0:15080", "[::]:15080"};
  /// Addresses to listen on for TLS.
  std::vector<std::string> tls_listen{"0.0.0.0:15443", "[::]:15443"};
  /// Already-listening sockets (socket activation, tests); the gateway takes ownership.
  std::vector<int> http_fds, tls_fds;
  ResolverConfig dns;
  /// Where the CA lives (ca.key 0600, ca.crt); created on first start.
  std::string state_dir = "/var/lib/nexus/egress";
  /// The upstream trust store for intercepted HTTPS: empty = the system's, else this file only.
  std::string upstream_ca_file;
  uint32_t connect_timeout_ms = 5000;       ///< per upstream address tried
  uint32_t first_bytes_timeout_ms = 10000;  ///< for the request head / ClientHello
  uint32_t idle_timeout_ms = 15 * 60 * 1000;
  size_t max_connections = 4096;
  /// One sandbox cannot take every connection slot from the others.
  size_t max_connections_per_sandbox = 1024;
  size_t max_queued = 256 * 1024;  ///< bytes queued towards one side before reading the other pauses
  std::chrono::milliseconds credential_ttl{30000};
  std::chrono::milliseconds command_timeout{5000};
};

class Gateway {
 public:
  /// Binds the listeners (errors name the address), loads or creates the CA, starts the
  /// thread. Connections are refused until set_ready(). `audit` may be null (the counters
  /// are still kept).
  static Result<std::unique_ptr<Gateway>> start(GatewayConfig cfg, std::shared_ptr<SandboxDirectory> sandboxes,
                                                std::shared_ptr<AuditSink> audit);
  ~Gateway();  ///< stops: closes listeners and connections, joins the thread
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  /// Fail-closed until nexusd has loaded the policies and calls this.
  void set_ready(bool ready = true);
  bool ready() const;
  void set_global_policy(GlobalPolicy policy);
  GlobalPolicy global_policy() const;
  SandboxDirectory& sandboxes();
  /// The gateway CA's certificate (PEM), for the sandboxes' trust stores.
  const std::string& ca_certificate_pem() const;
  /// Where the listeners are bound (the port filled in when 0 was asked for).
  std::vector<Endpoint> http_endpoints() const;
  std::vector<Endpoint> tls_endpoints() const;
  const EgressStats& stats() const;
  /// For EgressStats::remove() when a sandbox is deleted.
  EgressStats& stats();
  /// {"total": ..., "sandboxes": ..., "active_connections": n, "ready": bool}
  Json stats_json() const;
  size_t active_connections() const;

  struct Impl;

 private:
  explicit Gateway(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace nexus::net::egress
