// SPDX-License-Identifier: Apache-2.0
// The isolation decision and the host report.
#include "daemon/isolation.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include "nexus_config.h"

namespace nexus::daemon {

Result<Isolation> parse_isolation(std::string_view name) {
  if (name == "auto") return Isolation::automatic;
  if (name == "microvm") return Isolation::microvm;
  if (name == "jail") return Isolation::jail;
  return fail(Errc::invalid_argument, fmt::format("isolation must be auto, microvm or jail, not '{}'", name));
}

std::string_view isolation_name(Isolation i) {
  switch (i) {
    case Isolation::automatic: return "auto";
    case Isolation::microvm: return "microvm";
    case Isolation::jail: return "jail";
  }
  return "auto";
}

HostFacts inspect_host(const DaemonConfig& config, microvm::ProbeResult probe) {
  HostFacts h;
  h.probe = std::move(probe);
  h.vmm_path = config.vmm_path;
  h.vmm_present = !h.vmm_path.empty() && ::access(h.vmm_path.c_str(), X_OK) == 0;
  h.guest_kernel = config.guest_kernel;
  h.kernel_present = !h.guest_kernel.empty() && ::access(h.guest_kernel.c_str(), R_OK) == 0;
  h.agent_initrd = config.agent_initrd;
  h.initrd_present = !h.agent_initrd.empty() && ::access(h.agent_initrd.c_str(), R_OK) == 0;
  h.cgroup_version = ::access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 ? 2 : 1;
  return h;
}

std::optional<std::string> microvm_unavailable(const HostFacts& host) {
  if (!host.vmm_present)
    return fmt::format("nexus-vmm is not installed (looked for '{}'; nexusd --vmm)", host.vmm_path);
  if (!host.probe.usable) return microvm::probe_verdict(host.probe);
  if (!host.kernel_present)
    return fmt::format("no guest kernel at '{}' (build one with packaging/guest-kernel/build-guest-kernel, "
                       "or nexusd --guest-kernel)", host.guest_kernel);
  if (!host.initrd_present)
    return fmt::format("no agent initrd at '{}' (nexusd --agent-initrd)", host.agent_initrd);
  return std::nullopt;
}

Result<std::string> choose_isolation(Isolation requested, const HostFacts& host) {
  if (requested == Isolation::jail) return std::string("jail");
  auto why = microvm_unavailable(host);
  if (!why) return std::string("microvm");
  if (requested == Isolation::automatic) return std::string("jail");
  return fail(Errc::conflict,
              fmt::format("microvm isolation is not available on this host: {}; use --isolation jail", *why));
}

std::string auto_explanation(const HostFacts& host) {
  if (auto why = microvm_unavailable(host)) return fmt::format("auto -> jail, because {}", *why);
  return fmt::format("auto -> microvm ({})", host.probe.reason);
}

Json host_json(const HostFacts& host, Isolation default_isolation) {
  auto why = microvm_unavailable(host);
  Json microvm = {{"available", !why}};
  if (why) microvm["reason"] = *why;
  Json isolation = {{"default", isolation_name(default_isolation)},
                    {"auto", why ? "jail" : "microvm"},
                    {"explanation", auto_explanation(host)}};
  return Json{{"version", NEXUS_VERSION},
              {"isolation", isolation},
              {"microvm", microvm},
              {"jail", {{"available", true}}},
              {"probe", microvm::probe_to_json(host.probe)},
              {"vmm", {{"path", host.vmm_path}, {"present", host.vmm_present}}},
              {"guest_kernel", {{"path", host.guest_kernel}, {"present", host.kernel_present}}},
              {"agent_initrd", {{"path", host.agent_initrd}, {"present", host.initrd_present}}},
              {"cgroup", {{"version", host.cgroup_version}}}};
}

}  // namespace nexus::daemon
