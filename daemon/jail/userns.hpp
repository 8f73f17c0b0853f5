// SPDX-License-Identifier: Apache-2.0
// The sandbox's user namespace: id maps (host side) and becoming its root (child side).
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "common/result.hpp"
#include "daemon/jail/child_report.hpp"

namespace nexus::jail::detail {

/// Map container uid/gid 0..count-1 to host base..base+count-1 for the user namespace of
/// `pid` (which must have just unshared it). Host side.
Result<void> write_id_maps(pid_t pid, uint32_t base, uint32_t count);

/// Async-signal-safe: become uid/gid 0 of the user namespace (host uid_base), with no
/// supplementary groups.
ChildStatus become_namespace_root() noexcept;

}  // namespace nexus::jail::detail
