// SPDX-License-Identifier: Apache-2.0
// Asynchronous DNS for the gateway: c-ares driven by the gateway's libuv loop (its sockets
// watched with uv_poll, its timeouts with a uv timer), so a slow name server never blocks
// other connections.
//
// Thread affinity: everything on the thread running the loop.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "net/egress/address.hpp"

namespace nexus::net::egress {

struct ResolverConfig {
  /// "198.51.100.53", "198.51.100.53:5353", "[2001:db8::53]:53"; empty: /etc/resolv.conf.
  std::vector<std::string> servers;
  int timeout_ms = 2000;  ///< per try
  int tries = 2;
};

class Resolver {
 public:
  using Callback = std::function<void(Result<std::vector<Endpoint>>)>;

  static Result<std::unique_ptr<Resolver>> create(uv_loop_t* loop, const ResolverConfig& cfg);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  /// A and AAAA records of `host` (IPv4 first), each with `port`. The callback runs once,
  /// on the loop, unless cancel() was called or the Resolver was destroyed first. A name
  /// that does not exist is Errc::not_found; a server failure or timeout Errc::unavailable.
  /// Returns an id for cancel().
  uint64_t resolve(const std::string& host, uint16_t port, Callback cb);
  /// The callback of `id` will not run.
  void cancel(uint64_t id);

 private:
  struct Impl;
  explicit Resolver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace nexus::net::egress
