// SPDX-License-Identifier: Apache-2.0
// Guest init: the kernel command line, the guest-init rule, the root assembly on real loop
// devices, and the whole init (mounts, overlay, switch root, hostname, lo) in namespaces.
//
// Two runs (tests/guest-agent/meson.build): the default one runs what needs nothing; with
// `--root-tests` the [root] cases run (loop devices over a real erofs image and ext4 disk,
// mounts in a forked child's private mount, UTS and network namespaces). It exits 77 (SKIP)
// with the reason when root, losetup, mkfs.erofs or mkfs.ext4 is missing.
//
// Not covered here (needs a real VM, tested by the nested KVM harness): devtmpfs (tests mount
// a tmpfs on /dev, never the host's devtmpfs), moving the root onto the initramfs itself,
// nexus.time setting the clock, Ctrl-Alt-Del -> SIGINT, and guest_shutdown's kill/remount/
// reboot as PID 1.
#define CATCH_CONFIG_RUNNER
#include <catch.hpp>

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/magic.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "guest-agent/guest_init.hpp"

namespace fs = std::filesystem;
using namespace nexus::agent::guest;

namespace {

// --- small helpers (the agent's tests link only common/ and the agent) ------------------

struct Run {
  bool ok = false;
  std::string out;
};

// fork/exec argv (PATH search), stdout+stderr captured.
Run run(const std::vector<std::string>& argv) {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  Run r;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) r.out.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  return r;
}

bool have_tool(const std::string& name) {
  for (const char* d : {"/usr/sbin", "/usr/bin", "/sbin", "/bin"})
    if (::access((std::string(d) + "/" + name).c_str(), X_OK) == 0) return true;
  return false;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const std::string& path, const std::string& data) { std::ofstream(path) << data; }

long fs_magic(const std::string& path) {
  struct statfs s {};
  return ::statfs(path.c_str(), &s) == 0 ? static_cast<long>(s.f_type) : -1;
}

class TempDir {
 public:
  TempDir() {
    std::string t = "/tmp/nexus-guest-init-XXXXXX";
    REQUIRE(::mkdtemp(t.data()) != nullptr);
    path_ = t;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class Loop {
 public:
  Loop(const std::string& file, bool read_only) {
    std::vector<std::string> argv = {"losetup", "--find", "--show"};
    if (read_only) argv.emplace_back("--read-only");
    argv.push_back(file);
    Run r = run(argv);
    INFO(r.out);
    REQUIRE(r.ok);
    dev_ = r.out.substr(0, r.out.find('\n'));
  }
  ~Loop() { (void)run({"losetup", "-d", dev_}); }
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;
  const std::string& dev() const { return dev_; }

 private:
  std::string dev_;
};

// Runs fn in a forked child that unshared `flags` (always CLONE_NEWNS) with every mount
// private; returns what fn reported ("" is success).
template <class Fn>
std::string in_namespaces(int flags, Fn fn) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    std::string report;
    if (::unshare(CLONE_NEWNS | flags) != 0 ||
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
      report = std::string("unshare: ") + std::strerror(errno);
    else
      report = fn();
    (void)!::write(fds[1], report.data(), report.size());
    ::_exit(report.empty() ? 0 : 1);
  }
  ::close(fds[1]);
  std::string report;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) report.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  if (report.empty() && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
    report = "child failed with status " + std::to_string(status);
  return report;
}

// A template tree exported to erofs and an empty ext4 disk (no journal, as the pool makes).
struct Images {
  std::string erofs, ext4;
};

Images make_images(const TempDir& tmp) {
  std::string tree = tmp / "tree";
  fs::create_directories(tree + "/etc");
  fs::create_directories(tree + "/usr/bin");
  spit(tree + "/etc/hostname", "template\n");
  spit(tree + "/usr/bin/tool", "#!/bin/sh\n");
  ::chmod((tree + "/usr/bin/tool").c_str(), 0755);
  ::symlink("usr/bin", (tree + "/bin").c_str());
  Images im{tmp / "rootfs.erofs", tmp / "rw.ext4"};
  Run r = run({"mkfs.erofs", "--quiet", im.erofs, tree});
  INFO(r.out);
  REQUIRE(r.ok);
  spit(im.ext4, "");
  REQUIRE(::truncate(im.ext4.c_str(), 64 << 20) == 0);
  r = run({"mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal", "-E",
           "lazy_itable_init=1,nodiscard", im.ext4});
  INFO(r.out);
  REQUIRE(r.ok);
  return im;
}

std::string check(bool cond, const std::string& what) { return cond ? "" : what + "; "; }

bool interface_up(const char* name) {
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr {};
  std::memcpy(ifr.ifr_name, name, std::strlen(name));
  bool up = s >= 0 && ::ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP);
  if (s >= 0) ::close(s);
  return up;
}

}  // namespace

// --- kernel command line ----------------------------------------------------------------

TEST_CASE("parse_cmdline reads nexus.hostname and nexus.time, stops at --") {
  auto c = parse_cmdline(
      "console=ttyS0 reboot=k panic=1 nexus.hostname=sb_abc123 nexus.time=1700000000.25 "
      "-- --guest-init nexus.hostname=not-this\n");
  REQUIRE(c.hostname);
  CHECK(*c.hostname == "sb_abc123");  // sandbox ids, as a jail uses them
  REQUIRE(c.time_sec);
  CHECK(*c.time_sec == 1700000000);
  CHECK(c.time_nsec == 250000000);
  CHECK(c.warnings.empty());

  c = parse_cmdline("nexus.time=42");
  CHECK(*c.time_sec == 42);
  CHECK(c.time_nsec == 0);
  CHECK_FALSE(c.hostname);

  c = parse_cmdline("");
  CHECK_FALSE(c.hostname);
  CHECK_FALSE(c.time_sec);
}

TEST_CASE("parse_cmdline: kernel quoting, last value wins, bad values ignored with a warning") {
  auto c = parse_cmdline("init_args=\"a b nexus.hostname=quoted\" nexus.hostname=one "
                         "nexus.hostname=\"two\"");
  REQUIRE(c.hostname);
  CHECK(*c.hostname == "two");

  c = parse_cmdline("nexus.hostname=\"has space\" nexus.hostname=bad/slash "
                    "nexus.hostname=-dash nexus.time=-5 nexus.time=12x nexus.time=1. "
                    "nexus.time=99999999999999");
  CHECK_FALSE(c.hostname);
  CHECK_FALSE(c.time_sec);
  CHECK_THAT(c.warnings, Catch::Contains("nexus.hostname='has space'"));
  CHECK_THAT(c.warnings, Catch::Contains("nexus.time='-5'"));
  CHECK_THAT(c.warnings, Catch::Contains("nexus.time='12x'"));

  c = parse_cmdline(std::string("nexus.hostname=") + std::string(64, 'h'));
  CHECK(c.hostname);
  c = parse_cmdline(std::string("nexus.hostname=") + std::string(65, 'h'));
  CHECK_FALSE(c.hostname);
  c = parse_cmdline("nexus.hostnamex=a nexus.hostname");  // other names, no value
  CHECK_FALSE(c.hostname);
}

// --- the guest-init rule ----------------------------------------------------------------

TEST_CASE("decide_init_mode: the flag needs PID 1; without it, PID 1 on an initramfs without /proc") {
  auto mode = [](bool flag, pid_t pid, bool initramfs, bool proc) {
    return decide_init_mode(InitProbe{flag, pid, initramfs, proc});
  };
  CHECK(mode(true, 1, true, false) == InitMode::guest_init);
  CHECK(mode(true, 1, false, true) == InitMode::guest_init);   // flag wins on any root
  CHECK(mode(true, 42, true, false) == InitMode::refused);     // never on a host
  CHECK(mode(false, 1, true, false) == InitMode::guest_init);  // the kernel ran /init
  CHECK(mode(false, 1, false, true) == InitMode::normal);      // a jail: overlay root, /proc
  CHECK(mode(false, 1, true, true) == InitMode::normal);       // /proc already there
  CHECK(mode(false, 1, false, false) == InitMode::normal);
  CHECK(mode(false, 42, true, false) == InitMode::normal);
  // This test process is not PID 1.
  CHECK(detect_guest_init(false) == InitMode::normal);
  CHECK(detect_guest_init(true) == InitMode::refused);
}

TEST_CASE("nexus-agent --guest-init refuses to run when it is not PID 1") {
  const char* agent = std::getenv("NEXUS_AGENT");
  if (agent == nullptr) {
    WARN("NEXUS_AGENT not set: skipping the binary check");
    return;
  }
  Run r = run({agent, "--guest-init", "--listen", "/nonexistent/agent.sock"});
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.out, Catch::Contains("--guest-init is for PID 1 of a microVM only"));
}

TEST_CASE("fatal and guest_shutdown outside PID 1 print and exit without rebooting") {
  for (int which = 0; which < 2; ++which) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::dup2(fds[1], 2);
      if (which == 0) fatal("mounting /dev/vdb (ext4) on /rw: No such device");
      guest_shutdown(GuestSession{});
    }
    ::close(fds[1]);
    std::string out;
    char buf[1024];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    ::close(fds[0]);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 1);
    if (which == 0)
      CHECK_THAT(out, Catch::Contains("guest init failed: mounting /dev/vdb (ext4) on /rw: "
                                      "No such device"));
    else
      CHECK_THAT(out, Catch::Contains("outside PID 1"));
  }
}

// --- as root: the root assembly and the whole init --------------------------------------

TEST_CASE("assemble_root: erofs lower, ext4 upper, overlay; writes persist on the disk",
          "[root]") {
  TempDir tmp;
  Images im = make_images(tmp);
  Loop lower(im.erofs, true), rw(im.ext4, false);
  RootLayout l;
  l.lower_device = lower.dev();
  l.rw_device = rw.dev();
  l.lower_dir = tmp / "lower";
  l.rw_dir = tmp / "rw";
  l.new_root = tmp / "newroot";
  std::string report = in_namespaces(0, [&]() -> std::string {
    auto r = assemble_root(l);
    if (!r) return r.error().message();
    std::string why;
    why += check(fs_magic(l.new_root) == OVERLAYFS_SUPER_MAGIC, "overlay on new_root");
    why += check(fs_magic(l.lower_dir) == EROFS_SUPER_MAGIC_V1, "erofs on lower");
    why += check(fs_magic(l.rw_dir) == EXT4_SUPER_MAGIC, "ext4 on rw");
    why += check(slurp(l.new_root + "/etc/hostname") == "template\n", "lower file visible");
    why += check(fs::is_symlink(l.new_root + "/bin"), "lower symlink visible");
    spit(l.new_root + "/etc/hostname", "changed\n");  // copy-up
    fs::create_directories(l.new_root + "/home/user");
    spit(l.new_root + "/home/user/new.txt", "written in the sandbox");
    fs::remove(l.new_root + "/usr/bin/tool");  // a whiteout
    why += check(slurp(l.rw_dir + "/upper/home/user/new.txt") == "written in the sandbox",
                 "write in upper");
    why += check(slurp(l.rw_dir + "/upper/etc/hostname") == "changed\n", "copy-up in upper");
    why += check(slurp(l.lower_dir + "/etc/hostname") == "template\n", "lower unchanged");
    why += check(fs::exists(l.lower_dir + "/usr/bin/tool"), "lower keeps the deleted file");
    for (const auto& d : {l.new_root, l.rw_dir, l.lower_dir})
      if (::umount(d.c_str()) != 0) why += "umount " + d + ": " + std::strerror(errno) + "; ";
    return why;
  });
  CHECK(report == "");

  // The disk alone, mounted again: the upper layer is there.
  report = in_namespaces(0, [&]() -> std::string {
    std::string m = tmp / "check";
    fs::create_directories(m);
    if (::mount(rw.dev().c_str(), m.c_str(), "ext4", MS_RDONLY, nullptr) != 0)
      return std::string("remount ext4: ") + std::strerror(errno);
    std::string why;
    why += check(slurp(m + "/upper/home/user/new.txt") == "written in the sandbox", "persisted file");
    why += check(slurp(m + "/upper/etc/hostname") == "changed\n", "persisted copy-up");
    struct stat st {};
    why += check(::lstat((m + "/upper/usr/bin/tool").c_str(), &st) == 0 && S_ISCHR(st.st_mode) &&
                     st.st_rdev == 0,
                 "whiteout persisted");
    why += check(fs::is_directory(m + "/work"), "workdir");
    return why;
  });
  CHECK(report == "");
  Run fsck = run({"e2fsck", "-n", "-f", im.ext4});
  CHECK(fsck.ok);
}

TEST_CASE("assemble_root errors name the device, the type and the directory", "[root]") {
  TempDir tmp;
  Images im = make_images(tmp);
  Loop lower(im.erofs, true);
  RootLayout l;
  l.lower_device = lower.dev();
  l.rw_device = tmp / "no-such-device";
  l.lower_dir = tmp / "lower";
  l.rw_dir = tmp / "rw";
  l.new_root = tmp / "newroot";
  l.device_wait_ms = 50;
  std::string report = in_namespaces(0, [&]() -> std::string {
    auto r = assemble_root(l);
    if (r) return "assembled with a missing device";
    std::string want = "mounting " + l.rw_device + " (ext4) on " + l.rw_dir + ": No such file or directory";
    std::string why = check(r.error().message() == want, "message '" + r.error().message() + "'");
    // What was mounted before the failure was unmounted again.
    why += check(fs_magic(l.lower_dir) != EROFS_SUPER_MAGIC_V1, "lower left mounted");
    // The wrong filesystem type on the rw disk: the kernel's EINVAL, named.
    RootLayout bad = l;
    bad.rw_device = lower.dev();
    auto r2 = assemble_root(bad);
    why += check(!r2 && r2.error().message().starts_with("mounting " + lower.dev() + " (ext4) on " +
                                                         l.rw_dir + ": "),
                 "wrong type: '" + (r2 ? std::string("ok") : r2.error().message()) + "'");
    return why;
  });
  CHECK(report == "");
}

TEST_CASE("run_guest_init in namespaces: mounts, overlay, switch root, hostname, lo", "[root]") {
  TempDir tmp;
  Images im = make_images(tmp);
  Loop lower(im.erofs, true), rw(im.ext4, false);
  GuestInitOptions o;
  o.base = tmp / "initramfs";
  fs::create_directories(o.base);
  o.root.lower_device = lower.dev();
  o.root.rw_device = rw.dev();
  o.root.lower_dir = o.base + "/lower";
  o.root.rw_dir = o.base + "/rw";
  o.root.new_root = o.base + "/newroot";
  o.dev_fstype = "tmpfs";  // never the host's devtmpfs
  o.cmdline_file = tmp / "cmdline";
  spit(o.cmdline_file, "console=ttyS0 reboot=k nexus.hostname=sb-guest-test nexus.time=1 -- --guest-init\n");
  o.set_clock = false;
  o.disable_cad = false;

  std::string report = in_namespaces(CLONE_NEWUTS | CLONE_NEWNET, [&]() -> std::string {
    auto s = run_guest_init(o);
    if (!s) return s.error().message();
    std::string why;
    // Now chrooted into the overlay.
    why += check(fs_magic("/") == OVERLAYFS_SUPER_MAGIC, "/ is the overlay");
    why += check(slurp("/etc/hostname") == "template\n", "template file at /etc/hostname");
    why += check(fs_magic("/proc") == PROC_SUPER_MAGIC, "/proc");
    why += check(fs::exists("/proc/self/status"), "/proc/self");
    why += check(fs_magic("/sys") == SYSFS_MAGIC, "/sys");
    why += check(fs_magic("/dev") == TMPFS_MAGIC, "/dev");
    why += check(fs_magic("/dev/pts") == DEVPTS_SUPER_MAGIC, "/dev/pts");
    why += check(fs::is_symlink("/dev/ptmx") && fs::read_symlink("/dev/ptmx") == "pts/ptmx",
                 "/dev/ptmx -> pts/ptmx");
    why += check(fs::read_symlink("/dev/fd") == "/proc/self/fd", "/dev/fd");
    int ptmx = ::open("/dev/ptmx", O_RDWR | O_NOCTTY);
    why += check(ptmx >= 0, std::string("opening /dev/ptmx: ") + std::strerror(errno));
    if (ptmx >= 0) ::close(ptmx);
    why += check(fs_magic("/dev/shm") == TMPFS_MAGIC, "/dev/shm");
    why += check(fs_magic("/run") == TMPFS_MAGIC, "/run");
    why += check(fs_magic("/tmp") == TMPFS_MAGIC, "/tmp");
    struct stat st {};
    why += check(::stat("/tmp", &st) == 0 && (st.st_mode & 07777) == 01777, "/tmp mode 1777");
    why += check(::stat("/dev/shm", &st) == 0 && (st.st_mode & 07777) == 01777, "/dev/shm mode");
    if (fs_magic("/sys/fs/cgroup") != CGROUP2_SUPER_MAGIC)
      why += check(s->notes.find("cgroup2") != std::string::npos, "cgroup2 failure noted");
    char host[128] = {};
    ::gethostname(host, sizeof host - 1);
    why += check(std::string(host) == "sb-guest-test", std::string("hostname '") + host + "'");
    why += check(s->cmdline.hostname == std::optional<std::string>("sb-guest-test"), "cmdline");
    why += check(interface_up("lo"), "lo up");
    why += check(s->rw_dir.valid(), "rw fd kept for the shutdown");
    why += check(std::getenv("PATH") != nullptr, "PATH set");
    spit("/root-write.txt", "from the guest");
    return why;
  });
  CHECK(report == "");
  report = in_namespaces(0, [&]() -> std::string {
    std::string m = tmp / "check";
    fs::create_directories(m);
    if (::mount(rw.dev().c_str(), m.c_str(), "ext4", MS_RDONLY, nullptr) != 0)
      return std::string("remount ext4: ") + std::strerror(errno);
    return check(slurp(m + "/upper/root-write.txt") == "from the guest", "write persisted");
  });
  CHECK(report == "");
}

int main(int argc, char** argv) {
  bool root_tests = false;
  bool has_spec = false;
  std::vector<char*> args = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--root-tests") {
      root_tests = true;
      continue;
    }
    if (argv[i][0] != '-') has_spec = true;
    args.push_back(argv[i]);
  }
  if (root_tests) {
    if (::geteuid() != 0) {
      std::puts("SKIP: needs root (loop devices, mounts, namespaces)");
      return 77;
    }
    for (const char* tool : {"losetup", "mkfs.erofs", "mkfs.ext4", "e2fsck"}) {
      if (!have_tool(tool)) {
        std::printf("SKIP: %s not installed (util-linux, erofs-utils, e2fsprogs)\n", tool);
        return 77;
      }
    }
    if (::access("/dev/loop-control", R_OK | W_OK) != 0) {
      std::puts("SKIP: no /dev/loop-control");
      return 77;
    }
    std::string filesystems = slurp("/proc/filesystems");
    for (const char* f : {"\terofs\n", "\toverlay\n", "\text4\n"}) {
      if (filesystems.find(f) == std::string::npos) {
        std::printf("SKIP: the kernel has no%s(modprobe it?)\n", f);
        return 77;
      }
    }
  }
  static char root_spec[] = "[root]";
  static char not_root_spec[] = "~[root]";
  if (!has_spec) args.push_back(root_tests ? root_spec : not_root_spec);
  return Catch::Session().run(static_cast<int>(args.size()), args.data());
}
