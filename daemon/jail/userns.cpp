// SPDX-License-Identifier: Apache-2.0
// The sandbox's user namespace: id maps (host side) and becoming its root (child side).
#include "daemon/jail/userns.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

#include "daemon/jail/files.hpp"

namespace nexus::jail::detail {

Result<void> write_id_maps(pid_t pid, uint32_t base, uint32_t count) {
  // One contiguous range; host root (uid 0) is deliberately not mapped, so nothing in the
  // sandbox can ever act as, or own files as, host root.
  std::string map = fmt::format("0 {} {}\n", base, count);
  // setgroups stays "allow": the agent must be able to drop supplementary groups when it
  // switches to the sandbox user. Writing gid_map with it allowed is fine for a writer that
  // holds CAP_SETGID in the parent namespace (we are host root).
  NEXUS_TRY(write_file(fmt::format("/proc/{}/uid_map", pid), map));
  NEXUS_TRY(write_file(fmt::format("/proc/{}/gid_map", pid), map));
  return {};
}

ChildStatus become_namespace_root() noexcept {
  // Raw syscalls: glibc's set*id wrappers synchronise all threads with signals, which is
  // neither needed nor safe in a child after fork.
  if (::syscall(SYS_setresgid, 0, 0, 0) != 0) return child_errno("setting gid 0 in the sandbox");
  if (::syscall(SYS_setgroups, 0, nullptr) != 0)
    return child_errno("dropping supplementary groups");
  if (::syscall(SYS_setresuid, 0, 0, 0) != 0) return child_errno("setting uid 0 in the sandbox");
  return {};
}

}  // namespace nexus::jail::detail
