// SPDX-License-Identifier: Apache-2.0
// MicrovmBackend: sandboxes in microVMs, one nexus-vmm per sandbox (docs/vmm.md). The VMM
// runs in the sandbox's cgroup with its config, sockets, logs and writable disk in the
// sandbox directory; nexusd reaches the agent through the hybrid vsock socket, watches the
// VMM with a pidfd, and pauses, resumes and stops it on its control socket.
//
// Thread affinity: the daemon loop thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/uv.hpp"
#include "daemon/backend.hpp"
#include "daemon/config.hpp"
#include "daemon/microvm_images.hpp"

namespace nexus::daemon {

class MicrovmBackend final : public Backend {
 public:
  /// `on_exit` hears of VMMs that ended on their own (not through destroy()), once each,
  /// for sandboxes past their boot (a VMM dying while its guest boots fails the start).
  MicrovmBackend(uv::Loop& loop, const DaemonConfig& config, ExitReport on_exit);
  ~MicrovmBackend() override;

  /// Prepare for creates ahead of time (fill the disk pool).
  void warm() { images_.warm_pool(); }

  std::string_view name() const override { return "microvm"; }
  void start(const SandboxRecord& r, const rootfs::TemplateInfo& tpl, std::function<void(pid_t, uint64_t)> spawned,
             std::function<void(Result<void>)> done) override;
  void adopt(const SandboxRecord& r) override;
  http::Endpoint agent_endpoint(const SandboxRecord& r) const override;
  Result<void> pause(const SandboxRecord& r) override;
  Result<void> resume(const SandboxRecord& r) override;
  Result<void> destroy(const SandboxRecord& r) override;

 private:
  struct Vm;
  Vm* find(const std::string& id);
  void launch(Vm& vm, const std::string& image, int cpus, int memory_mib,
              const std::function<void(pid_t, uint64_t)>& spawned);
  /// Answer the start of `id` (once; not after destroy()).
  void finish_start(const std::string& id, Result<void> r);
  void watch(Vm& vm);
  Result<uint32_t> free_id_offset() const;
  void vmm_exited(const std::string& id);

  uv::Loop& loop_;
  const DaemonConfig& config_;
  ExitReport on_exit_;
  MicrovmImages images_;
  std::map<std::string, std::unique_ptr<Vm>> vms_;
  std::vector<std::function<void(Result<void>)>> cancelled_;  // starts answered by destroy()
  uv::Timer cancel_timer_;
};

}  // namespace nexus::daemon
