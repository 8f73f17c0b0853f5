// SPDX-License-Identifier: Apache-2.0
// Choosing a sandbox's isolation backend (DESIGN.md section 6): `auto` picks microvm only
// when the host probe says guest kernels run at hardware speed and a guest kernel, the
// agent's initrd and nexus-vmm are all present; otherwise the jail. What nexusd found out
// about the host is kept for GET /v1/host and `nexus doctor`.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/json.hpp"
#include "common/result.hpp"
#include "daemon/config.hpp"
#include "daemon/microvm/probe.hpp"

namespace nexus::daemon {

enum class Isolation { automatic, microvm, jail };

/// "auto", "microvm" or "jail"; anything else is invalid_argument naming the choices.
Result<Isolation> parse_isolation(std::string_view name);
std::string_view isolation_name(Isolation i);

/// What the daemon knows about this host's ability to run microVMs.
struct HostFacts {
  microvm::ProbeResult probe;
  std::string vmm_path;
  bool vmm_present = false;
  std::string guest_kernel;
  bool kernel_present = false;
  std::string agent_initrd;
  bool initrd_present = false;
  int cgroup_version = 1;
};

/// The files named by `config` checked on disk, the cgroup version, and `probe`.
HostFacts inspect_host(const DaemonConfig& config, microvm::ProbeResult probe);

/// Why microVMs cannot run here, in a phrase ("/dev/kvm runs guest kernel code 1180x slower
/// than native (PVM or software emulation)"); nullopt when they can.
std::optional<std::string> microvm_unavailable(const HostFacts& host);

/// The backend for a sandbox: "jail" or "microvm". An explicit microvm on a host that cannot
/// run one is Errc::conflict: "microvm isolation is not available on this host: <why>; use
/// --isolation jail".
Result<std::string> choose_isolation(Isolation requested, const HostFacts& host);

/// One line for humans: "auto -> jail, because <why>" or "auto -> microvm (...)".
std::string auto_explanation(const HostFacts& host);

/// GET /v1/host (docs/api.md).
Json host_json(const HostFacts& host, Isolation default_isolation);

}  // namespace nexus::daemon
