// SPDX-License-Identifier: Apache-2.0
// Where nexusd finds the programs and images it runs sandboxes with: the agent, nexus-vmm,
// the agent's initrd and the guest kernel (nexus doctor looks in the same places when nexusd
// is down). A flag wins, then an environment variable, then
// the build tree nexusd runs from, then the installed location.
#pragma once

#include <string>

namespace nexus {

/// nexus-agent: --agent, $NEXUS_AGENT, <build>/guest-agent/nexus-agent, beside nexusd,
/// <libexecdir>/nexus/nexus-agent.
std::string find_agent(const std::string& flag);
/// nexus-vmm: --vmm, $NEXUS_VMM, <build>/vmm/nexus-vmm, <libexecdir>/nexus/nexus-vmm.
std::string find_vmm(const std::string& flag);
/// agent-initrd.cpio: --agent-initrd, $NEXUS_AGENT_INITRD, <build>/guest-agent/,
/// <libexecdir>/nexus/.
std::string find_agent_initrd(const std::string& flag);
/// The guest vmlinux: --guest-kernel, $NEXUS_GUEST_KERNEL, <root>/guest/vmlinux when it
/// exists, else what `build-guest-kernel --print-path --cache-dir <cache>` names (the
/// script from the source tree nexusd was built in, or <libexecdir>/nexus/), else
/// <root>/guest/vmlinux. The result may not exist; the host report says so.
std::string find_guest_kernel(const std::string& flag, const std::string& root_dir, const std::string& cache_dir);

/// An absolute, normalised form of `path` (unchanged when that fails).
std::string absolute_path(const std::string& path);

}  // namespace nexus
