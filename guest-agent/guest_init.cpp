// SPDX-License-Identifier: Apache-2.0
// Guest init: mounts, the overlay root, the initramfs-style switch root, and the PID 1 stop.
#include "guest-agent/guest_init.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <fmt/format.h>

namespace nexus::agent::guest {

namespace {

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// --- small helpers ----------------------------------------------------------------------

std::string join(const std::string& dir, std::string_view rel) {
  if (dir.empty() || dir == "/") return "/" + std::string(rel);
  return dir + "/" + std::string(rel);
}

void add_note(std::string& notes, std::string_view note) {
  if (!notes.empty()) notes += "; ";
  notes += note;
}

std::string describe(const std::string& source, const std::string& fstype,
                     const std::string& target) {
  if (source == fstype) return fmt::format("mounting {} on {}", fstype, target);
  return fmt::format("mounting {} ({}) on {}", source, fstype, target);
}

Result<void> mount_fs(const std::string& source, const std::string& target,
                      const std::string& fstype, unsigned long flags, const std::string& data) {
  if (::mount(source.c_str(), target.c_str(), fstype.c_str(), flags,
              data.empty() ? nullptr : data.c_str()) != 0)
    return fail_errno(describe(source, fstype, target));
  return {};
}

Result<void> make_dir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) == 0) return {};
  if (errno == EEXIST) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return {};
    return fail(Errc::already_exists, fmt::format("creating {}: exists and is not a directory", path));
  }
  return fail_errno(fmt::format("creating {}", path));
}

Result<void> mkdir_and_mount(const std::string& source, const std::string& target,
                             const std::string& fstype, unsigned long flags,
                             const std::string& data, mode_t mode = 0755) {
  NEXUS_TRY(make_dir(target, mode));
  return mount_fs(source, target, fstype, flags, data);
}

Result<void> replace_with_symlink(const std::string& link, const char* target) {
  if (::unlink(link.c_str()) != 0 && errno != ENOENT)
    return fail_errno(fmt::format("removing {}", link));
  if (::symlink(target, link.c_str()) != 0)
    return fail_errno(fmt::format("linking {} -> {}", link, target));
  return {};
}

bool has_magic(const char* path, long magic) {
  struct statfs sfs {};
  return ::statfs(path, &sfs) == 0 && static_cast<long>(sfs.f_type) == magic;
}

// A device node appears when its driver has probed; wait briefly instead of failing at once.
void wait_for_device(const std::string& path, int wait_ms) {
  for (int waited = 0; waited < wait_ms; waited += 10) {
    if (::access(path.c_str(), F_OK) == 0) return;
    struct timespec ts {0, 10 * 1000 * 1000};
    ::nanosleep(&ts, nullptr);
  }
}

Result<std::string> read_small_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail_errno(fmt::format("opening {}", path));
  std::string out;
  char buf[4096];
  while (out.size() < 65536) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_errno(fmt::format("reading {}", path));
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

bool valid_hostname(std::string_view h) {
  if (h.empty() || h.size() > 64 || h.front() == '-' || h.front() == '.') return false;
  for (char c : h) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_';  // '_': sandbox ids are sb_..., as in a jail
    if (!ok) return false;
  }
  return true;
}

// "SECONDS" or "SECONDS.FRACTION"; false when malformed.
bool parse_time(std::string_view v, int64_t& sec, long& nsec) {
  auto dot = v.find('.');
  std::string_view whole = v.substr(0, dot);
  if (whole.empty() || whole.size() > 12) return false;
  auto [p, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), sec);
  if (ec != std::errc() || p != whole.data() + whole.size() || sec < 0) return false;
  nsec = 0;
  if (dot == std::string_view::npos) return true;
  std::string_view frac = v.substr(dot + 1);
  if (frac.empty()) return false;
  long scale = 100000000;
  for (char c : frac) {
    if (c < '0' || c > '9') return false;
    nsec += (c - '0') * scale;
    scale /= 10;
  }
  return true;
}

// Writes all of `s` to fd, ignoring errors (the console is all there is).
void write_all(int fd, std::string_view s) noexcept {
  while (!s.empty()) {
    ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    s.remove_prefix(static_cast<size_t>(n));
  }
}

void console_line(std::string_view line) noexcept {
  write_all(2, line);
  write_all(2, "\n");
}

// Resets the VM: reboot(RB_AUTOBOOT) with reboot=k goes through the i8042 and the VMM exits.
// Only PID 1 does that; anything else (a test, a mistake) just exits.
[[noreturn]] void reset_vm() noexcept {
  ::sync();
  if (::getpid() == 1) {
    (void)::tcdrain(2);  // let the UART send the last words before the reset
    ::reboot(RB_AUTOBOOT);
    console_line(fmt::format("nexus-agent: reboot: {}", std::strerror(errno)));
  }
  std::_Exit(1);  // as PID 1 this panics, and panic=1 resets the VM all the same
}

// Fds 0-2 may be closed when the initramfs had no /dev/console; reopen them on the console.
void ensure_console(const std::string& dev_dir) {
  for (int fd = 0; fd < 3; ++fd) {
    if (::fcntl(fd, F_GETFD) >= 0) continue;
    int c = ::open(join(dev_dir, "console").c_str(), O_RDWR | O_NOCTTY);
    if (c < 0) c = ::open(join(dev_dir, "null").c_str(), O_RDWR);
    if (c >= 0 && c != fd) {
      ::dup2(c, fd);
      ::close(c);
    }
  }
}

// Step 1: /proc, /sys, /dev with pts and shm, /run under `base`.
Result<void> mount_early(const GuestInitOptions& o) {
  constexpr unsigned long kSafe = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  NEXUS_TRY(mkdir_and_mount("proc", join(o.base, "proc"), "proc", kSafe, "", 0555));
  NEXUS_TRY(mkdir_and_mount("sysfs", join(o.base, "sys"), "sysfs", kSafe, "", 0555));
  std::string dev = join(o.base, "dev");
  NEXUS_TRY(mkdir_and_mount(o.dev_fstype, dev, o.dev_fstype, MS_NOSUID, "mode=0755"));
  ensure_console(dev);
  NEXUS_TRY(mkdir_and_mount("devpts", join(dev, "pts"), "devpts", MS_NOSUID | MS_NOEXEC,
                            "newinstance,ptmxmode=0666,mode=0620,gid=5"));
  NEXUS_TRY(replace_with_symlink(join(dev, "ptmx"), "pts/ptmx"));
  NEXUS_TRY(mkdir_and_mount("tmpfs", join(dev, "shm"), "tmpfs", MS_NOSUID | MS_NODEV,
                            "mode=1777", 01777));
  // devtmpfs has no /dev/fd and friends; bash's process substitution needs /dev/fd.
  for (auto [name, target] : {std::pair{"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"},
                              {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"}}) {
    std::string link = join(dev, name);
    if (::symlink(target, link.c_str()) != 0 && errno != EEXIST)
      return fail_errno(fmt::format("linking {} -> {}", link, target));
  }
  NEXUS_TRY(mkdir_and_mount("tmpfs", join(o.base, "run"), "tmpfs", MS_NOSUID | MS_NODEV,
                            "mode=0755"));
  return {};
}

// Step 4: move the early mounts into the new root and make it the root.
Result<void> switch_root(const GuestInitOptions& o) {
  const std::string& nr = o.root.new_root;
  for (const char* d : {"proc", "sys", "dev", "run", "tmp"}) {
    NEXUS_TRY(make_dir(join(nr, d), std::string_view(d) == "tmp" ? 01777 : 0755)
                  .map_error([&](Error e) { return std::move(e.wrap("preparing the new root")); }));
  }
  for (const char* d : {"proc", "sys", "dev", "run"}) {
    std::string from = join(o.base, d), to = join(nr, d);
    if (::mount(from.c_str(), to.c_str(), nullptr, MS_MOVE, nullptr) != 0)
      return fail_errno(fmt::format("moving {} to {}", from, to));
  }
  if (::chdir(nr.c_str()) != 0) return fail_errno(fmt::format("entering {}", nr));
  if (::mount(".", o.base.c_str(), nullptr, MS_MOVE, nullptr) != 0)
    return fail_errno(fmt::format("moving {} onto {}", nr, o.base));
  if (::chroot(".") != 0) return fail_errno("chroot into the new root");
  if (::chdir("/") != 0) return fail_errno("entering the new root");
  return {};
}

// Step 5 (in the new root): /tmp, cgroup2, hostname, lo, environment, Ctrl-Alt-Del.
void finish_in_new_root(const GuestInitOptions& o, const KernelCmdline& cmd,
                        std::string& notes) {
  if (auto r = mount_fs("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"); !r)
    add_note(notes, r.error().message());
  if (::mount("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "nsdelegate") != 0 &&
      ::mount("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              nullptr) != 0)
    add_note(notes, Error::last_errno("mounting cgroup2 on /sys/fs/cgroup").message());
  if (o.set_hostname) {
    std::string h = cmd.hostname.value_or(o.default_hostname);
    if (::sethostname(h.data(), h.size()) != 0)
      add_note(notes, Error::last_errno(fmt::format("setting the hostname '{}'", h)).message());
  }
  if (o.bring_up_lo) {
    if (auto r = bring_up_interface("lo"); !r) add_note(notes, r.error().message());
  }
  if (o.set_environment) {
    ::setenv("PATH", kDefaultPath, 0);
    const char* home = std::getenv("HOME");
    if (home == nullptr || std::string_view(home) == "/") ::setenv("HOME", "/root", 1);
  }
  if (o.disable_cad && ::reboot(RB_DISABLE_CAD) != 0)
    add_note(notes, Error::last_errno("disabling Ctrl-Alt-Del").message());
}

}  // namespace

// --- kernel command line ----------------------------------------------------------------

KernelCmdline parse_cmdline(std::string_view s) {
  KernelCmdline out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) ++i;
    if (i >= s.size()) break;
    // One parameter, the kernel's way (lib/cmdline.c next_arg): quotes group spaces.
    std::string tok;
    bool quoted = false;
    for (; i < s.size(); ++i) {
      char c = s[i];
      if (c == '"') {
        quoted = !quoted;
        continue;
      }
      if (!quoted && (c == ' ' || c == '\t' || c == '\n')) break;
      tok += c;
    }
    if (tok == "--") break;  // the rest is init's argv
    auto eq = tok.find('=');
    std::string_view name = std::string_view(tok).substr(0, eq);
    std::string_view value = eq == std::string::npos ? std::string_view() : std::string_view(tok).substr(eq + 1);
    if (name == "nexus.hostname") {
      if (valid_hostname(value))
        out.hostname = std::string(value);
      else
        add_note(out.warnings, fmt::format("ignoring invalid nexus.hostname='{}'", value));
    } else if (name == "nexus.time") {
      int64_t sec = 0;
      long nsec = 0;
      if (parse_time(value, sec, nsec)) {
        out.time_sec = sec;
        out.time_nsec = nsec;
      } else {
        add_note(out.warnings, fmt::format("ignoring invalid nexus.time='{}'", value));
      }
    }
  }
  return out;
}

// --- guest-init detection ---------------------------------------------------------------

InitMode decide_init_mode(const InitProbe& p) {
  if (p.flag) return p.pid == 1 ? InitMode::guest_init : InitMode::refused;
  if (p.pid == 1 && p.root_is_initramfs && !p.proc_mounted) return InitMode::guest_init;
  return InitMode::normal;
}

InitMode detect_guest_init(bool flag) {
  InitProbe p;
  p.flag = flag;
  p.pid = ::getpid();
  p.root_is_initramfs = has_magic("/", RAMFS_MAGIC) || has_magic("/", TMPFS_MAGIC);
  p.proc_mounted = has_magic("/proc", PROC_SUPER_MAGIC);
  return decide_init_mode(p);
}

// --- root assembly ----------------------------------------------------------------------

Result<void> assemble_root(const RootLayout& l) {
  NEXUS_TRY(make_dir(l.lower_dir, 0755));
  NEXUS_TRY(make_dir(l.rw_dir, 0755));
  NEXUS_TRY(make_dir(l.new_root, 0755));
  wait_for_device(l.lower_device, l.device_wait_ms);
  NEXUS_TRY(mount_fs(l.lower_device, l.lower_dir, l.lower_fstype, MS_RDONLY, ""));
  wait_for_device(l.rw_device, l.device_wait_ms);
  if (auto r = mount_fs(l.rw_device, l.rw_dir, l.rw_fstype, MS_NOATIME, l.rw_options); !r) {
    (void)::umount2(l.lower_dir.c_str(), MNT_DETACH);
    return r;
  }
  auto undo = [&] {
    (void)::umount2(l.rw_dir.c_str(), MNT_DETACH);
    (void)::umount2(l.lower_dir.c_str(), MNT_DETACH);
  };
  std::string upper = join(l.rw_dir, "upper"), work = join(l.rw_dir, "work");
  for (const auto& d : {upper, work}) {
    if (auto r = make_dir(d, 0755); !r) {
      undo();
      return r;
    }
  }
  std::string data = fmt::format("lowerdir={},upperdir={},workdir={}", l.lower_dir, upper, work);
  if (::mount("overlay", l.new_root.c_str(), "overlay", 0, data.c_str()) != 0) {
    Error e = Error::last_errno(fmt::format("mounting the overlay ({}) on {}", data, l.new_root));
    undo();
    return fail(std::move(e));
  }
  return {};
}

// --- the whole init ---------------------------------------------------------------------

Result<GuestSession> run_guest_init(const GuestInitOptions& o) {
  GuestSession session;
  if (o.base == "/") (void)::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr);
  NEXUS_TRY(mount_early(o));

  std::string cmdline_file = o.cmdline_file.empty() ? join(o.base, "proc/cmdline") : o.cmdline_file;
  if (auto text = read_small_file(cmdline_file)) {
    session.cmdline = parse_cmdline(*text);
    if (!session.cmdline.warnings.empty()) add_note(session.notes, session.cmdline.warnings);
  } else {
    add_note(session.notes, text.error().message());
  }
  if (o.set_clock && session.cmdline.time_sec) {
    struct timespec ts {};
    ts.tv_sec = static_cast<time_t>(*session.cmdline.time_sec);
    ts.tv_nsec = session.cmdline.time_nsec;
    if (::clock_settime(CLOCK_REALTIME, &ts) != 0)
      add_note(session.notes, Error::last_errno("setting the clock from nexus.time").message());
  }

  NEXUS_TRY(assemble_root(o.root));
  session.rw_dir = UniqueFd(::open(o.root.rw_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!session.rw_dir) return fail_errno(fmt::format("opening {}", o.root.rw_dir));
  NEXUS_TRY(switch_root(o).map_error([](Error e) { return std::move(e.wrap("switching root")); }));
  finish_in_new_root(o, session.cmdline, session.notes);
  return session;
}

void fatal(std::string_view message) noexcept {
  if (::fcntl(2, F_GETFD) < 0) {
    int c = ::open("/dev/console", O_WRONLY | O_NOCTTY);
    if (c >= 0 && c != 2) {
      ::dup2(c, 2);
      ::close(c);
    }
  }
  console_line(fmt::format("nexus-agent: guest init failed: {}", message));
  console_line("nexus-agent: resetting the VM");
  reset_vm();
}

void guest_shutdown(const GuestSession& session) noexcept {
  // Only a microVM's PID 1 may kill everything and remount / read-only; anything else (a test,
  // a mistake) must not touch the machine it runs on.
  if (::getpid() != 1) {
    console_line("nexus-agent: guest shutdown outside PID 1: exiting");
    std::_Exit(1);
  }
  console_line("nexus-agent: stopping: killing all processes, syncing, resetting the VM");
  {
    ::kill(-1, SIGKILL);
    // Reap until no child is left (bounded: a process stuck in D state must not hang the stop).
    for (int waited = 0; waited < 3000;) {
      int status = 0;
      pid_t r = ::waitpid(-1, &status, WNOHANG);
      if (r > 0) continue;
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) break;  // ECHILD: all gone
      struct timespec ts {0, 5 * 1000 * 1000};
      ::nanosleep(&ts, nullptr);
      waited += 5;
    }
  }
  ::sync();
  if (::mount(nullptr, "/", nullptr, MS_REMOUNT | MS_RDONLY, nullptr) != 0)
    console_line(fmt::format("nexus-agent: remounting / read-only: {}", std::strerror(errno)));
  if (session.rw_dir && ::fchdir(session.rw_dir.get()) == 0 &&
      ::mount(nullptr, ".", nullptr, MS_REMOUNT | MS_RDONLY, nullptr) != 0)
    console_line(fmt::format("nexus-agent: remounting the rw disk read-only: {}",
                             std::strerror(errno)));
  reset_vm();
}

Result<void> bring_up_interface(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ)
    return fail(Errc::invalid_argument, fmt::format("invalid interface name '{}'", name));
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) return fail_errno(fmt::format("opening a socket to configure '{}'", name));
  struct ifreq ifr;
  std::memset(&ifr, 0, sizeof ifr);
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  if (::ioctl(s.get(), SIOCGIFFLAGS, &ifr) != 0)
    return fail_errno(fmt::format("reading the flags of '{}'", name));
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
  if (::ioctl(s.get(), SIOCSIFFLAGS, &ifr) != 0)
    return fail_errno(fmt::format("bringing up '{}'", name));
  return {};
}

}  // namespace nexus::agent::guest
