// SPDX-License-Identifier: Apache-2.0
// Guest init: what nexus-agent does as PID 1 of a microVM before it serves envd.
//
// The VMM boots the guest kernel with an initramfs whose /init is nexus-agent and two disks:
// /dev/vda, the template's read-only rootfs.erofs, and /dev/vdb, the sandbox's writable ext4
// disk. The agent then, in this order:
//   1. mounts /proc, /sys, /dev (devtmpfs) with /dev/pts (ptmxmode=0666, gid=5, mode=620;
//      /dev/ptmx -> pts/ptmx) and /dev/shm, and /run in the initramfs;
//   2. reads /proc/cmdline: sets the clock from nexus.time=, remembers nexus.hostname=;
//   3. assembles the root: vda (erofs, ro) on /lower, vdb (ext4) on /rw, /rw/upper and
//      /rw/work, overlay on /newroot;
//   4. moves /proc /sys /dev /run into /newroot and switches root the initramfs way
//      (chdir /newroot; mount --move . /; chroot .; chdir /) — pivot_root cannot leave an
//      initramfs;
//   5. mounts /tmp (tmpfs) and cgroup2 on /sys/fs/cgroup (best effort), sets the hostname,
//      brings up lo, sets PATH/HOME defaults and turns Ctrl-Alt-Del into SIGINT to PID 1.
// A fatal error is printed on the console and the VM is reset (reboot(RB_AUTOBOOT) with
// reboot=k ends the VMM): PID 1 must never exit.
//
// Guest-init mode (see detect_guest_init): `--guest-init` on the agent's command line (the
// VMM appends `-- --guest-init` to the kernel command line), or, without it, PID 1 whose root
// is the initramfs (ramfs/tmpfs) with no /proc mounted yet. A jail's agent is PID 1 too, but
// on an overlay root with /proc mounted, so it never matches; `--guest-init` when not PID 1
// is refused.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace nexus::agent::guest {

// --- kernel command line ----------------------------------------------------------------

/// What nexus-agent reads from /proc/cmdline. Parameters after a bare `--` belong to init's
/// argv and are ignored here; invalid values are reported in `warnings` and ignored.
struct KernelCmdline {
  std::optional<std::string> hostname;  ///< nexus.hostname=NAME (1-64 of [A-Za-z0-9._-])
  std::optional<int64_t> time_sec;      ///< nexus.time=SECONDS[.FRACTION] (Unix time)
  long time_nsec = 0;                   ///< the fraction of nexus.time, in nanoseconds
  std::string warnings;                 ///< "; "-separated notes about ignored parameters
};

/// Parses a kernel command line ("a b=c d=\"e f\" -- init args"), with the kernel's quoting.
KernelCmdline parse_cmdline(std::string_view cmdline);

// --- guest-init detection ---------------------------------------------------------------

/// The facts detect_guest_init decides on (separate so that the rule can be tested).
struct InitProbe {
  bool flag = false;               ///< --guest-init was given
  pid_t pid = 0;                   ///< getpid()
  bool root_is_initramfs = false;  ///< statfs("/") is ramfs or tmpfs
  bool proc_mounted = false;       ///< statfs("/proc") is procfs
};

enum class InitMode {
  normal,      ///< jail / host / tests: serve only
  guest_init,  ///< microVM PID 1: run_guest_init, then serve; guest_shutdown on a signal
  refused,     ///< --guest-init without being PID 1 (would mount and reboot the host)
};

/// The rule: flag && pid == 1 -> guest_init; flag && pid != 1 -> refused;
/// no flag: pid == 1 && root_is_initramfs && !proc_mounted -> guest_init; else normal.
InitMode decide_init_mode(const InitProbe& probe);
/// Probes the running process (getpid, statfs) and applies decide_init_mode.
InitMode detect_guest_init(bool flag);

// --- root assembly ----------------------------------------------------------------------

/// Devices and directories of the root assembly. The defaults are the microVM's; tests use
/// loop devices and directories under a temporary directory.
struct RootLayout {
  std::string lower_device = "/dev/vda";
  std::string lower_fstype = "erofs";
  std::string rw_device = "/dev/vdb";
  std::string rw_fstype = "ext4";
  /// Mount data for the rw disk: the pool formats it with lazy inode tables, and
  /// noinit_itable keeps the kernel from zeroing them in the background (writes, CPU).
  std::string rw_options = "noinit_itable";
  std::string lower_dir = "/lower";
  std::string rw_dir = "/rw";
  std::string new_root = "/newroot";
  /// How long to wait for a device node to appear (virtio probing may lag init slightly).
  int device_wait_ms = 2000;
};

/// Mounts lower_device (read-only) on lower_dir and rw_device on rw_dir, creates
/// rw_dir/upper and rw_dir/work, and mounts the overlay on new_root. On failure, what was
/// mounted is unmounted again. Errors read "mounting /dev/vdb (ext4) on /rw: No such device".
Result<void> assemble_root(const RootLayout& layout);

// --- the whole init ---------------------------------------------------------------------

struct GuestInitOptions {
  RootLayout root;
  /// The initramfs root: where /proc, /sys, /dev and /run are mounted first and where the new
  /// root is moved to. "/" in the guest; tests use a temporary directory.
  std::string base = "/";
  std::string dev_fstype = "devtmpfs";  ///< tests pass "tmpfs" (never touch the host's /dev)
  std::string cmdline_file;  ///< empty: <base>/proc/cmdline (tests give their own file)
  bool set_clock = true;       ///< apply nexus.time= (tests must not change the host clock)
  bool disable_cad = true;     ///< reboot(RB_DISABLE_CAD): Ctrl-Alt-Del -> SIGINT to PID 1
  bool set_hostname = true;    ///< sethostname (a test runs it in its own UTS namespace)
  bool bring_up_lo = true;     ///< a test runs it in its own network namespace
  bool set_environment = true; ///< PATH, HOME defaults of the agent's own environment
  std::string default_hostname = "localhost";  ///< when nexus.hostname= is absent
};

/// What guest_shutdown needs after the switch: the rw disk is no longer reachable by name.
struct GuestSession {
  UniqueFd rw_dir;          ///< O_PATH|O_DIRECTORY of the rw disk's mount root
  KernelCmdline cmdline;    ///< as parsed
  std::string notes;        ///< best-effort steps that failed ("cgroup2: ...; ...")
};

/// Runs steps 1-5 above. Fatal problems are errors; best-effort ones land in `notes`.
Result<GuestSession> run_guest_init(const GuestInitOptions& options);

/// Prints "nexus-agent: guest init failed: <message>" to stderr (the serial console), waits
/// for the console to drain, syncs and resets the VM. Never returns. Not PID 1: prints, syncs
/// and _exit(1)s instead (never reboots the machine a test runs on).
[[noreturn]] void fatal(std::string_view message) noexcept;

/// The guest-init mode's stop: SIGKILL to every process, reap them (bounded), sync, remount
/// the root and the rw disk read-only (best effort), reboot(RB_AUTOBOOT). Never returns.
/// Not PID 1: prints and _exit(1)s without killing or remounting anything.
[[noreturn]] void guest_shutdown(const GuestSession& session) noexcept;

/// Brings an interface up (SIOCGIFFLAGS, SIOCSIFFLAGS |= IFF_UP).
Result<void> bring_up_interface(const std::string& name);

}  // namespace nexus::agent::guest
