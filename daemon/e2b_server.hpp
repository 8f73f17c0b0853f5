// SPDX-License-Identifier: Apache-2.0
// E2bServer: the E2B-compatible endpoint (DESIGN.md §9) on one TCP port. Requests with an
// E2b-Sandbox-Id header go to the sandbox (E2bProxy); all others are control plane (E2bControl).
//
// Thread affinity: the daemon loop thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/http.hpp"
#include "common/unique_fd.hpp"
#include "common/uv.hpp"
#include "daemon/auth.hpp"
#include "daemon/e2b_control.hpp"
#include "daemon/e2b_proxy.hpp"
#include "daemon/sandbox_manager.hpp"

namespace nexus::daemon {

/// "host:port" or "[v6]:port" → host and port; invalid_argument otherwise.
Result<std::pair<std::string, uint16_t>> parse_listen_address(const std::string& address);

class E2bServer {
 public:
  E2bServer(uv::Loop& loop, SandboxManager& mgr, KeyService& keys);
  Result<void> listen(const std::string& host, uint16_t port);
  /// Serve on an inherited listening socket (systemd socket activation).
  Result<void> listen_fd(UniqueFd fd);
  /// The base URL clients use (E2B_API_URL and E2B_SANDBOX_URL); empty when not listening.
  const std::string& url() const { return url_; }
  void close() { server_.close(); }

 private:
  void handle(std::shared_ptr<http::Exchange> ex);

  E2bControl control_;
  E2bProxy proxy_;
  http::Server server_;
  std::string url_;
};

}  // namespace nexus::daemon
