// SPDX-License-Identifier: Apache-2.0
// JailBackend: sandboxes in the namespace jail (daemon/jail). The agent's listening socket is
// bound by nexusd in the run directory and inherited by the agent as fd 3.
#pragma once

#include "daemon/backend.hpp"
#include "daemon/config.hpp"

namespace nexus::daemon {

class JailBackend final : public Backend {
 public:
  explicit JailBackend(const DaemonConfig& config) : config_(config) {}

  std::string_view name() const override { return "jail"; }
  void start(const SandboxRecord& r, const rootfs::TemplateInfo& tpl, std::function<void(pid_t, uint64_t)> spawned,
             std::function<void(Result<void>)> done) override;
  void adopt(const SandboxRecord&) override {}  // the sweeper watches jails
  http::Endpoint agent_endpoint(const SandboxRecord& r) const override;
  Result<void> pause(const SandboxRecord& r) override;
  Result<void> resume(const SandboxRecord& r) override;
  Result<void> destroy(const SandboxRecord& r) override;

 private:
  const DaemonConfig& config_;
};

}  // namespace nexus::daemon
