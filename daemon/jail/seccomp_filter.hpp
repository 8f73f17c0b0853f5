// SPDX-License-Identifier: Apache-2.0
// The jail's seccomp filter: a Docker-default-or-stricter syscall allowlist (libseccomp).
#pragma once

#include <vector>

#include "common/result.hpp"

namespace nexus::jail {

/// Install the sandbox seccomp filter on the calling thread (and, with TSYNC, all threads).
/// Sets PR_SET_NO_NEW_PRIVS first. Call as the last step before exec'ing the sandbox init.
///
/// Policy: default action EPERM; an allowlist derived from Docker's default profile with
/// the capability-gated groups treated as not granted (except chroot: the jail keeps
/// CAP_SYS_CHROOT, as Docker does); conditional rules for socket
/// (no AF_VSOCK), personality, clone (no namespace flags), clone3 (ENOSYS so libc falls
/// back to clone) and ptrace (kernel >= 4.8). On x86_64 the x86 and x32 ABIs are filtered
/// too, so `int $0x80` cannot bypass the filter.
///
/// The filter is irreversible. This call allocates (libseccomp builds the BPF program), so
/// call it from a normal forked child, not between vfork() and exec.
Result<void> install_seccomp_filter();

/// For tests/diagnostics: the syscall names explicitly (unconditionally) allowed. Names
/// allowed only under argument or architecture conditions are not listed.
const std::vector<const char*>& seccomp_allowed_syscalls();

}  // namespace nexus::jail
