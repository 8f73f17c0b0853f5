// SPDX-License-Identifier: Apache-2.0
// The VMM jails itself once everything it needs from the host is open (vmm-notes.md 5.3):
// private mount, IPC and UTS namespaces, an empty tmpfs as its root, an unprivileged uid/gid with no capabilities and no_new_privs. Call before any thread starts.
#pragma once

#include <sys/types.h>

#include <functional>
#include <set>
#include <string>

#include "common/result.hpp"

namespace nexus::vmm {

struct JailSpec {
  uid_t uid = 0;
  gid_t gid = 0;
  /// A directory to mount the empty root over (in the VMM's own mount namespace only; the
  /// host sees no change). Usually the sandbox directory.
  std::string mount_point;
  /// Told when the jail had to fall back to a weaker step (for the log).
  std::function<void(const char*)> on_fallback = [](const char*) {};
};

Result<void> enter_jail(const JailSpec& spec);

/// Close every fd >= 3 not in `keep`: nexus-vmm calls it first thing, so nothing the parent
/// leaked reaches the guest-facing process.
Result<void> close_other_fds(const std::set<int>& keep);

}  // namespace nexus::vmm
