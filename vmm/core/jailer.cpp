// SPDX-License-Identifier: Apache-2.0
#include "vmm/core/jailer.hpp"

#include <dirent.h>
#include <grp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

namespace nexus::vmm {

Result<void> close_other_fds(const std::set<int>& keep) {
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return fail_errno("listing /proc/self/fd");
  std::vector<int> to_close;
  int dir_fd = ::dirfd(d);
  while (dirent* e = ::readdir(d)) {
    char* end;
    long fd = std::strtol(e->d_name, &end, 10);
    if (*end || end == e->d_name || fd < 3 || fd == dir_fd || keep.count(static_cast<int>(fd)))
      continue;
    to_close.push_back(static_cast<int>(fd));
  }
  ::closedir(d);
  for (int fd : to_close) ::close(fd);
  return {};
}

Result<void> enter_jail(const JailSpec& spec) {
  if (spec.uid == 0 || spec.gid == 0) return fail(Errc::invalid_argument, "jail ids must not be root");
  if (::unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS) != 0)
    return fail_errno("unsharing mount, IPC and UTS namespaces");
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    return fail_errno("making mounts private");
  if (::mount("nexus-vmm", spec.mount_point.c_str(), "tmpfs",
              MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k,nr_inodes=16,mode=0555") != 0)
    return fail_errno("mounting the jail root on '" + spec.mount_point + "'");
  if (::chdir(spec.mount_point.c_str()) != 0) return fail_errno("entering the jail root");
  // pivot_root(".", ".") stacks the old root under the new one; detaching it leaves only ".".
  if (::syscall(SYS_pivot_root, ".", ".") == 0) {
    if (::umount2(".", MNT_DETACH) != 0) return fail_errno("detaching the old root");
  } else if (errno == EINVAL) {
    // The host's root is an initramfs (e.g. the nested test harness), which pivot_root
    // cannot leave. chroot instead: with the ids dropped below, nothing can climb out.
    if (::chroot(".") != 0) return fail_errno("chroot into the jail root");
    spec.on_fallback("the host root is an initramfs: chroot instead of pivot_root");
  } else {
    return fail_errno("pivot_root");
  }
  if (::chdir("/") != 0) return fail_errno("chdir /");
  if (::mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
              nullptr) != 0)
    return fail_errno("making the jail root read-only");
  (void)::sethostname("nexus-vmm", 9);

  rlimit core{0, 0};
  (void)::setrlimit(RLIMIT_CORE, &core);  // guest memory never lands in a core file
  if (::setgroups(0, nullptr) != 0) return fail_errno("setgroups");
  if (::setresgid(spec.gid, spec.gid, spec.gid) != 0) return fail_errno("setresgid");
  if (::setresuid(spec.uid, spec.uid, spec.uid) != 0) return fail_errno("setresuid");
  // A non-root uid after setresuid has no capabilities left (no SECBIT_KEEP_CAPS).
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return fail_errno("no_new_privs");
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return fail_errno("PR_SET_DUMPABLE");
  return {};
}

}  // namespace nexus::vmm
