// SPDX-License-Identifier: Apache-2.0
// Bring up "lo" in the sandbox's network namespace (child side).
#pragma once

#include "daemon/jail/child_report.hpp"

namespace nexus::jail::detail {

/// Async-signal-safe: set IFF_UP on the loopback interface of the current network namespace.
ChildStatus bring_up_loopback() noexcept;

}  // namespace nexus::jail::detail
