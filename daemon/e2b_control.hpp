// SPDX-License-Identifier: Apache-2.0
// E2bControl: the E2B control plane (e2b-protocol.md part A) on the sandbox manager.
// Every call is authenticated by X-API-Key; a key's user sees only their own sandboxes.
//
// Thread affinity: the daemon loop thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/http.hpp"
#include "daemon/auth.hpp"
#include "daemon/sandbox_manager.hpp"

namespace nexus::daemon {

class E2bControl {
 public:
  E2bControl(SandboxManager& mgr, KeyService& keys) : mgr_(mgr), keys_(keys) {}
  void handle(std::shared_ptr<http::Exchange> ex);
  /// The `domain` answered for sandboxes ("localhost:PORT" of the endpoint), so the SDK's
  /// getHost(port) is PORT-ID.localhost:PORT, which the endpoint routes to that sandbox port.
  void set_domain(std::string domain) { domain_ = std::move(domain); }

 private:
  using ExPtr = std::shared_ptr<http::Exchange>;
  void create(const Principal& who, const ExPtr& ex);
  void connect(const Principal& who, const std::string& id, const ExPtr& ex);
  void list(const Principal& who, const ExPtr& ex);
  void info(const Principal& who, const std::string& id, const ExPtr& ex);
  void kill(const Principal& who, const std::string& id, const ExPtr& ex);
  void set_timeout(const Principal& who, const std::string& id, const ExPtr& ex);
  void pause(const Principal& who, const std::string& id, const ExPtr& ex);
  void metrics(const Principal& who, const std::string& id, const ExPtr& ex);
  /// Calls of e2b 2.51 that Nexus does not implement yet (fork, snapshots):
  /// 404 for a sandbox the caller cannot see, else 501 naming what is missing.
  void update_network(const Principal& who, const std::string& id, const ExPtr& ex);
  void unsupported(const Principal& who, const std::string& id, std::string_view what, const ExPtr& ex);
  /// The live sandbox `id` if `who` may see it; not_found otherwise (also for others' sandboxes).
  Result<SandboxRecord> visible_live(const Principal& who, const std::string& id);

  SandboxManager& mgr_;
  KeyService& keys_;
  std::string domain_;
};

}  // namespace nexus::daemon
