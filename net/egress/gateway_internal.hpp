// SPDX-License-Identifier: Apache-2.0
// The gateway's insides, shared by gateway.cpp (thread, listeners) and connection.cpp (one
// connection's state machine). Everything here lives on the gateway thread unless it says so.
#pragma once

#include <uv.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "net/egress/gateway.hpp"
#include "net/egress/http_head.hpp"
#include "net/egress/inject.hpp"
#include "net/egress/resolver.hpp"
#include "net/egress/tls.hpp"

namespace nexus::net::egress {

struct Connection;

struct Listener {
  uv_tcp_t handle;
  Gateway::Impl* gw = nullptr;
  bool tls = false;
  Endpoint bound;
};

struct Gateway::Impl {
  GatewayConfig cfg;
  std::shared_ptr<SandboxDirectory> sandboxes;
  std::shared_ptr<AuditSink> audit;
  EgressStats stats;
  std::unique_ptr<CertAuthority> ca;
  SslCtxPtr upstream_ctx;
  CredentialCache credentials;
  std::atomic<bool> ready{false};
  std::atomic<size_t> active{0};

  mutable std::mutex policy_mu;
  std::shared_ptr<const GlobalPolicy> global;  // guarded by policy_mu

  uv_loop_t loop{};
  uv_async_t stop_async{};
  std::unique_ptr<Resolver> resolver;
  std::vector<std::unique_ptr<Listener>> listeners;
  std::set<Connection*> connections;
  std::map<std::string, size_t> per_sandbox;  // open connections by sandbox id
  std::thread thread;
  bool stopping = false;

  Impl(GatewayConfig c) : cfg(std::move(c)), credentials(cfg.credential_ttl, cfg.command_timeout) {}
  std::shared_ptr<const GlobalPolicy> global_snapshot() const {
    std::lock_guard lock(policy_mu);
    return global;
  }
  void record(const AuditRecord& r) {
    stats.add(r);
    if (audit) audit->record(r);
  }
};

/// Accepts one connection from `listener` and runs it to its end.
void accept_connection(Listener* listener);
/// Ends every connection (gateway stop).
void close_all_connections(Gateway::Impl* gw);

}  // namespace nexus::net::egress
