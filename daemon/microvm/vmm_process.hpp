// SPDX-License-Identifier: Apache-2.0
// One nexus-vmm process: start it in the sandbox's cgroup, stop it (gracefully, then for
// good), and read why it ended.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "common/result.hpp"
#include "daemon/jail/jail.hpp"
#include "daemon/microvm/vmm_config.hpp"

namespace nexus::microvm {

struct VmmSpec {
  std::string id;        ///< the sandbox id; names the cgroup
  std::string vmm_path;  ///< the nexus-vmm binary
  SandboxPaths paths;    ///< the directory must exist
  VmmConfig config;      ///< written to paths.config
  jail::Limits limits;   ///< for the sandbox's cgroup, which the VMM joins before exec
};

/// The VMM's pid and start time (to tell it from a later process with the same pid).
struct VmmHandle {
  pid_t pid = -1;
  uint64_t start_time = 0;
};

/// Write the config, create the cgroup with the limits, fork, join the cgroup, and exec
/// `vmm_path --config <file>` in a session of its own (so it outlives nexusd), stdout and
/// stderr appended to paths.vmm_log. Returns once the exec succeeded; the VMM is a child of
/// the caller, who reaps it (stop_vmm does). On failure nothing is left running.
Result<VmmHandle> spawn_vmm(const VmmSpec& spec);

/// Ask the VMM to stop ({"op":"stop"} on its control socket, the guest powers off), wait up
/// to `timeout_ms` plus a little for it to exit, then SIGKILL it; 0 kills it at once. Reaps
/// it when it is the caller's child. Succeeds when it is already gone.
Result<void> stop_vmm(const VmmHandle& h, const std::string& control_path, uint64_t timeout_ms);

/// The last non-empty line of the VMM's log (its error message, by docs/vmm.md), printable
/// and at most 300 characters; empty when there is none.
std::string last_log_line(const std::string& log_path);

}  // namespace nexus::microvm
