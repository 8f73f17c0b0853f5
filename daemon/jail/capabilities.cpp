// SPDX-License-Identifier: Apache-2.0
// The sandbox init's capability set: Docker's default set, nothing else (child side).
#include "daemon/jail/capabilities.hpp"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>

#include "daemon/jail/files.hpp"

namespace nexus::jail::detail {

uint64_t kept_capabilities() noexcept {
  constexpr int kKept[] = {
      CAP_CHOWN,  CAP_DAC_OVERRIDE, CAP_FSETID, CAP_FOWNER,           CAP_MKNOD,
      CAP_NET_RAW, CAP_SETGID,      CAP_SETUID, CAP_SETFCAP,          CAP_SETPCAP,
      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_KILL, CAP_AUDIT_WRITE,
  };
  uint64_t mask = 0;
  for (int c : kKept) mask |= uint64_t{1} << c;
  return mask;
}

int last_capability() {
  if (auto text = read_file("/proc/sys/kernel/cap_last_cap")) {
    int v = std::atoi(text->c_str());
    if (v > 0 && v < 64) return v;
  }
  return CAP_LAST_CAP;
}

ChildStatus drop_capabilities(int last_cap) noexcept {
  const uint64_t keep = kept_capabilities();
  // The bounding set limits what any later exec (e.g. of a file with capabilities) can
  // gain; dropping needs CAP_SETPCAP, which we still hold in the user namespace.
  for (int c = 0; c <= last_cap; ++c) {
    if (keep & (uint64_t{1} << c)) continue;
    if (::prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL)
      return child_errno("dropping capabilities from the bounding set");
  }
  // Ambient capabilities would survive exec regardless of the file: there must be none.
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    return child_errno("clearing ambient capabilities");
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  __user_cap_data_struct data[2]{};
  for (int i = 0; i < 2; ++i) {
    auto word = static_cast<uint32_t>(keep >> (32 * i));
    data[i].effective = word;
    data[i].permitted = word;
    data[i].inheritable = word;
  }
  if (::syscall(SYS_capset, &header, data) != 0) return child_errno("setting capabilities");
  return {};
}

}  // namespace nexus::jail::detail
