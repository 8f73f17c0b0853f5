// SPDX-License-Identifier: Apache-2.0
// The sandbox init's capability set: Docker's default set, nothing else (child side).
#pragma once

#include <cstdint>

#include "daemon/jail/child_report.hpp"

namespace nexus::jail::detail {

/// Bit mask of the capabilities the sandbox keeps (Docker's default set; no CAP_SYS_ADMIN,
/// so nothing inside can mount, and no CAP_NET_ADMIN, CAP_SYS_PTRACE, ...).
uint64_t kept_capabilities() noexcept;

/// Highest capability number the running kernel knows (host side, before fork).
int last_capability();

/// Async-signal-safe: drop every other capability from the bounding set, clear the ambient
/// set, and set effective = permitted = inheritable = kept_capabilities().
ChildStatus drop_capabilities(int last_cap) noexcept;

}  // namespace nexus::jail::detail
