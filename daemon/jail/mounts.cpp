// SPDX-License-Identifier: Apache-2.0
// The sandbox's file system view: overlay rootfs, /proc, /sys, /dev, masks, pivot_root.
#include "daemon/jail/mounts.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

namespace nexus::jail::detail {
namespace {

struct PathStep {
  const char* path;  // relative to the new root (the cwd while preparing)
  const char* step;
};

// Kernel interfaces that leak host information or allow host-wide effects; hidden like
// Docker does: files under /dev/null, directories under an empty read-only tmpfs.
constexpr PathStep kMaskedPaths[] = {
    {"proc/acpi", "masking /proc/acpi"},
    {"proc/asound", "masking /proc/asound"},
    {"proc/kcore", "masking /proc/kcore"},
    {"proc/keys", "masking /proc/keys"},
    {"proc/latency_stats", "masking /proc/latency_stats"},
    {"proc/timer_list", "masking /proc/timer_list"},
    {"proc/timer_stats", "masking /proc/timer_stats"},
    {"proc/sched_debug", "masking /proc/sched_debug"},
    {"proc/scsi", "masking /proc/scsi"},
    {"sys/firmware", "masking /sys/firmware"},
    {"sys/devices/virtual/powercap", "masking /sys/devices/virtual/powercap"},
};

// Writable host-wide knobs: visible but read-only.
constexpr PathStep kReadOnlyPaths[] = {
    {"proc/bus", "making /proc/bus read-only"},
    {"proc/fs", "making /proc/fs read-only"},
    {"proc/irq", "making /proc/irq read-only"},
    {"proc/sys", "making /proc/sys read-only"},
    {"proc/sysrq-trigger", "making /proc/sysrq-trigger read-only"},
};

struct DevNode {
  const char* host;  // absolute, still reachable before pivot_root
  const char* path;  // relative to the new root
  const char* step;
};

// Only harmless character devices, bound from the host (a user namespace cannot mknod).
constexpr DevNode kDevNodes[] = {
    {"/dev/null", "dev/null", "binding /dev/null"},
    {"/dev/zero", "dev/zero", "binding /dev/zero"},
    {"/dev/full", "dev/full", "binding /dev/full"},
    {"/dev/random", "dev/random", "binding /dev/random"},
    {"/dev/urandom", "dev/urandom", "binding /dev/urandom"},
    {"/dev/tty", "dev/tty", "binding /dev/tty"},
};

struct DevLink {
  const char* target;
  const char* link;  // relative to the new root
};

constexpr DevLink kDevLinks[] = {
    {"/proc/self/fd", "dev/fd"},
    {"/proc/self/fd/0", "dev/stdin"},
    {"/proc/self/fd/1", "dev/stdout"},
    {"/proc/self/fd/2", "dev/stderr"},
    {"pts/ptmx", "dev/ptmx"},
};

struct MountPointDir {
  const char* path;
  mode_t mode;
  const char* step;
};

constexpr MountPointDir kMountPoints[] = {
    {"proc", 0555, "creating /proc in the rootfs"},
    {"sys", 0555, "creating /sys in the rootfs"},
    {"dev", 0755, "creating /dev in the rootfs"},
    {"tmp", 01777, "creating /tmp in the rootfs"},
};

constexpr unsigned long kProcFlags = MS_NOSUID | MS_NODEV | MS_NOEXEC;

ChildStatus mask_path(const PathStep& p) noexcept {
  struct stat st;
  if (::fstatat(AT_FDCWD, p.path, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};  // this kernel does not have it
    return child_errno(p.step);
  }
  if (S_ISDIR(st.st_mode)) {
    if (::mount("tmpfs", p.path, "tmpfs", MS_RDONLY | kProcFlags, "size=0,mode=0555") != 0)
      return child_errno(p.step);
  } else if (::mount("/dev/null", p.path, nullptr, MS_BIND, nullptr) != 0) {
    return child_errno(p.step);
  }
  return {};
}

ChildStatus make_read_only(const PathStep& p) noexcept {
  if (::mount(p.path, p.path, nullptr, MS_BIND | MS_REC, nullptr) != 0) {
    if (errno == ENOENT) return {};
    return child_errno(p.step);
  }
  // A bind mount only becomes read-only through a remount of the bind itself.
  if (::mount(nullptr, p.path, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | kProcFlags,
              nullptr) != 0)
    return child_errno(p.step);
  return {};
}

}  // namespace

RootfsPlan make_rootfs_plan(const std::string& lower_dir, const std::string& sandbox_dir,
                            uint32_t uid_base) {
  RootfsPlan plan;
  plan.rootfs = sandbox_dir + "/rootfs";
  plan.overlay_options = fmt::format("lowerdir={},upperdir={}/upper,workdir={}/work",
                                     lower_dir, sandbox_dir, sandbox_dir);
  plan.overlay_step = fmt::format("mounting overlay on '{}'", plan.rootfs);
  plan.uid_base = uid_base;
  return plan;
}

ChildStatus mount_overlay(const RootfsPlan& plan) noexcept {
  // Our own mount namespace, so the overlay never appears in the host's mount table and
  // disappears with the sandbox's last process.
  if (::unshare(CLONE_NEWNS) != 0) return child_errno("creating a mount namespace");
  // Slave: host unmounts still propagate in (no pinned host mounts), nothing leaks out.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0)
    return child_errno("making mounts private");
  // Mounted as host root, before the user namespace: copy-up runs with these credentials and
  // can chown to any shifted id; an overlay mounted inside the user namespace could not
  // preserve owners outside its map.
  if (::mount("overlay", plan.rootfs.c_str(), "overlay", 0, plan.overlay_options.c_str()) != 0)
    return child_errno(plan.overlay_step.c_str());
  int root = ::open(plan.rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return child_errno(plan.overlay_step.c_str());
  ChildStatus st;
  for (const auto& mp : kMountPoints) {
    bool created = ::mkdirat(root, mp.path, mp.mode) == 0;
    if (!created && errno != EEXIST) {
      st = child_errno(mp.step);
      break;
    }
    // A template's symlink here would make later mounts land on host paths: only a real
    // directory is acceptable.
    struct stat s;
    if (::fstatat(root, mp.path, &s, AT_SYMLINK_NOFOLLOW) != 0) {
      st = child_errno(mp.step);
      break;
    }
    if (!S_ISDIR(s.st_mode)) {
      st = child_error(mp.step, ENOTDIR);
      break;
    }
    if (created) {
      // Owned by container root, like the rest of the template; mkdir applies the umask,
      // so set the mode explicitly (/tmp needs its sticky bit).
      if (::fchownat(root, mp.path, plan.uid_base, plan.uid_base, AT_SYMLINK_NOFOLLOW) != 0 ||
          ::fchmodat(root, mp.path, mp.mode, 0) != 0) {
        st = child_errno(mp.step);
        break;
      }
    }
  }
  ::close(root);
  return st;
}

ChildStatus prepare_rootfs(const RootfsPlan& plan) noexcept {
  // Private everywhere: nothing we mount may propagate to the helper's namespace, and
  // pivot_root refuses shared mounts.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    return child_errno("making mounts private in the sandbox");
  // The overlay came from the parent mount namespace and is locked in this one; a bind of
  // it made here is ours and can become the root.
  if (::mount(plan.rootfs.c_str(), plan.rootfs.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
    return child_errno("binding the rootfs");
  if (::chdir(plan.rootfs.c_str()) != 0) return child_errno("entering the rootfs");

  // A fresh procfs: it shows only the sandbox's pid namespace.
  if (::mount("proc", "proc", "proc", kProcFlags, nullptr) != 0)
    return child_errno("mounting /proc");
  // sysfs is allowed because the network namespace belongs to our user namespace; it is
  // read-only. If the kernel refuses it, the sandbox simply has an empty /sys.
  bool have_sys = ::mount("sysfs", "sys", "sysfs", MS_RDONLY | kProcFlags, nullptr) == 0;
  for (const auto& p : kMaskedPaths) {
    if (!have_sys && p.path[0] == 's') continue;
    if (auto st = mask_path(p); !st) return st;
  }
  for (const auto& p : kReadOnlyPaths)
    if (auto st = make_read_only(p); !st) return st;
  return {};
}

ChildStatus populate_dev() noexcept {
  // /dev is a small tmpfs of our own rather than the host's devtmpfs: only the devices
  // bound below exist. Mounted now, as namespace root, so its root directory is owned by a
  // mapped id (container root) and we can create entries in it.
  if (::mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC | MS_STRICTATIME,
              "mode=755,size=65536k") != 0)
    return child_errno("mounting /dev");
  for (const auto& d : kDevNodes) {
    int fd = ::openat(AT_FDCWD, d.path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
    if (fd < 0) return child_errno(d.step);
    ::close(fd);
    if (::mount(d.host, d.path, nullptr, MS_BIND, nullptr) != 0) return child_errno(d.step);
  }
  if (::mkdirat(AT_FDCWD, "dev/pts", 0755) != 0) return child_errno("creating /dev/pts");
  // newinstance: the sandbox's ptys are its own, not the host's.
  if (::mount("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=0620,gid=5") != 0 &&
      ::mount("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=0620") != 0)
    return child_errno("mounting /dev/pts");
  if (::mkdirat(AT_FDCWD, "dev/shm", 01777) != 0) return child_errno("creating /dev/shm");
  if (::mount("shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "mode=1777,size=65536k") != 0)
    return child_errno("mounting /dev/shm");
  for (const auto& l : kDevLinks)
    if (::symlinkat(l.target, AT_FDCWD, l.link) != 0) return child_errno("creating /dev links");
  return {};
}

ChildStatus pivot_to_cwd() noexcept {
  // pivot_root(".", ".") stacks the old root on top of the new one at "/"; detaching it
  // leaves only the new root, with no host path reachable.
  if (::syscall(SYS_pivot_root, ".", ".") != 0) return child_errno("pivot_root into the rootfs");
  if (::umount2(".", MNT_DETACH) != 0) return child_errno("detaching the old root");
  if (::chdir("/") != 0) return child_errno("entering the new root");
  return {};
}

}  // namespace nexus::jail::detail
