// SPDX-License-Identifier: Apache-2.0
// Tests for daemon/jail/seccomp_filter: each case installs the filter in a forked child only.
#include <catch.hpp>

#include <fcntl.h>
#include <grp.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <thread>

#include "daemon/jail/seccomp_filter.hpp"

using nexus::jail::install_seccomp_filter;
using nexus::jail::seccomp_allowed_syscalls;

namespace {

// Child exit codes beyond errno values.
constexpr int k_install_failed = 200;
constexpr int k_unexpected_success = 201;
constexpr int k_bad_output = 202;

struct child_result {
  int status = 0;      // raw wait status
  std::string output;  // what the child wrote to its stdout
  bool exited() const { return WIFEXITED(status); }
  int code() const { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }
};

/// Fork; in the child optionally install the filter, then _exit(body()). The child's stdout
/// is captured. The filter never touches the test process itself.
child_result run_child(const std::function<int()>& body, bool with_filter = true) {
  int fds[2];
  REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
  std::fflush(nullptr);  // no buffered test-runner output may leak into the child's stdout
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    if (with_filter) {
      if (auto r = install_seccomp_filter(); !r) {
        std::fprintf(stderr, "install_seccomp_filter: %s\n", r.error().message().c_str());
        _exit(k_install_failed);
      }
    }
    _exit(body());
  }
  close(fds[1]);
  child_result res;
  char buf[512];
  for (;;) {
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n > 0) {
      res.output.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  close(fds[0]);
  while (waitpid(pid, &res.status, 0) < 0 && errno == EINTR) {
  }
  return res;
}

/// Exit code for "this call should have been refused": the errno, or k_unexpected_success.
int errno_of(long rc) { return rc < 0 ? errno : k_unexpected_success; }

/// A 32-bit syscall through `int $0x80` from this 64-bit process. Returns the raw kernel
/// result (-errno on failure).
long int80(long nr, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0) {
  long ret = nr;
  asm volatile("int $0x80"
               : "+a"(ret)
               : "b"(a), "c"(b), "d"(c), "S"(d), "D"(e)
               : "memory", "cc", "r8", "r9", "r10", "r11");
  return ret;
}

constexpr long k_x86_getpid = 20;
constexpr long k_x86_mount = 21;
constexpr long k_x86_socketcall = 102;
constexpr long k_x86_socket = 359;

/// Whether this kernel runs 32-bit syscalls via int $0x80 (CONFIG_IA32_EMULATION enabled).
bool have_ia32_emulation() {
  const auto r = run_child(
      [] {
        return int80(k_x86_getpid) == static_cast<long>(getpid()) ? 0 : 1;
      },
      false);
  return r.exited() && r.code() == 0;
}

bool is_allowed(std::string_view name) {
  for (const char* n : seccomp_allowed_syscalls())
    if (name == n) return true;
  return false;
}

}  // namespace

TEST_CASE("the allowlist has the workload basics and none of the dangerous calls",
          "[seccomp]") {
  for (const char* name : {"read", "write", "execve", "execveat", "wait4", "pipe2", "futex",
                           "rseq", "statx", "openat2", "setresuid", "setgroups", "capset",
                           "prctl", "mknodat", "memfd_create", "close_range", "chroot"}) {
    INFO(name);
    CHECK(is_allowed(name));
  }
  for (const char* name :
       {"mount", "umount2", "pivot_root", "init_module", "finit_module", "bpf",
        "perf_event_open", "unshare", "setns", "keyctl", "add_key", "request_key",
        "open_by_handle_at", "name_to_handle_at", "userfaultfd", "io_uring_setup",
        "io_uring_enter", "io_uring_register", "kexec_load", "reboot", "swapon", "syslog",
        "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "fsopen",
        "move_mount", "open_tree", "clone", "clone3", "socket", "ptrace", "personality"}) {
    INFO(name);
    CHECK_FALSE(is_allowed(name));
  }
}

TEST_CASE("the filter installs and sets no_new_privs", "[seccomp]") {
  const auto r = run_child([] {
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) return 1;
    // Seccomp mode 2 is "filter".
    return prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 2 ? 0 : 2;
  });
  CHECK(r.code() == 0);
}

TEST_CASE("TSYNC: threads that existed before install are filtered too", "[seccomp]") {
  int go[2];
  REQUIRE(pipe(go) == 0);
  std::fflush(nullptr);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int result = -1;
    std::thread t([&] {
      char c;
      while (read(go[0], &c, 1) < 0 && errno == EINTR) {
      }
      result = errno_of(unshare(CLONE_NEWNS));
    });
    if (!install_seccomp_filter()) _exit(k_install_failed);
    (void)!write(go[1], "x", 1);
    t.join();
    _exit(result);
  }
  close(go[0]);
  close(go[1]);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == EPERM);
}

TEST_CASE("mount-family and namespace calls are refused", "[seccomp]") {
  // Invalid targets: without the filter these fail with ENOENT/EINVAL, never mount.
  CHECK(run_child([] {
          return errno_of(mount("none", "/nonexistent-nexus-seccomp", "tmpfs", 0, nullptr));
        }).code() == EPERM);
  CHECK(run_child([] { return errno_of(umount2("/nonexistent-nexus-seccomp", 0)); }).code() ==
        EPERM);
  CHECK(run_child([] {
          return errno_of(syscall(SYS_pivot_root, "/nonexistent-a", "/nonexistent-b"));
        }).code() == EPERM);
  CHECK(run_child([] { return errno_of(unshare(CLONE_NEWUSER)); }).code() == EPERM);
  CHECK(run_child([] { return errno_of(unshare(CLONE_NEWNS)); }).code() == EPERM);
  CHECK(run_child([] { return errno_of(setns(-1, 0)); }).code() == EPERM);
  CHECK(run_child([] { return errno_of(syscall(SYS_fsopen, "tmpfs", 0)); }).code() == EPERM);
  CHECK(run_child([] {
          return errno_of(syscall(SYS_open_tree, AT_FDCWD, "/", 0));
        }).code() == EPERM);
}

TEST_CASE("clone with namespace flags is refused, clone3 is ENOSYS", "[seccomp]") {
  CHECK(run_child([] {
          const long rc = syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
          if (rc == 0) _exit(0);  // the unfiltered case: a child in a new mount namespace
          return errno_of(rc);
        }).code() == EPERM);
  CHECK(run_child([] {
          const long rc = syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0);
          if (rc == 0) _exit(0);
          return errno_of(rc);
        }).code() == EPERM);
  // A bogus clone3 (size 0) is EINVAL without the filter.
  CHECK(run_child([] { return errno_of(syscall(SYS_clone3, nullptr, 0)); }).code() == ENOSYS);
}

TEST_CASE("module, bpf, keyring, time and other privileged calls are refused", "[seccomp]") {
  CHECK(run_child([] { return errno_of(syscall(SYS_init_module, nullptr, 0, "")); }).code() ==
        EPERM);
  CHECK(run_child([] { return errno_of(syscall(SYS_finit_module, -1, "", 0)); }).code() ==
        EPERM);
  CHECK(run_child([] { return errno_of(syscall(SYS_delete_module, "nexus_none", 0)); })
            .code() == EPERM);
  CHECK(run_child([] { return errno_of(syscall(SYS_bpf, -1, nullptr, 0)); }).code() == EPERM);
  CHECK(run_child([] {
          return errno_of(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
        }).code() == EPERM);
  CHECK(run_child([] {
          return errno_of(syscall(SYS_add_key, "user", "nexus", "x", 1, KEY_SPEC_SESSION_KEYRING));
        }).code() == EPERM);
  CHECK(run_child([] { return errno_of(syscall(SYS_perf_event_open, nullptr, 0, -1, -1, 0)); })
            .code() == EPERM);
  CHECK(run_child([] { return errno_of(syscall(SYS_userfaultfd, 0)); }).code() == EPERM);
  CHECK(run_child([] { return errno_of(syscall(SYS_kexec_load, 0, 0, nullptr, 0)); }).code() ==
        EPERM);
  CHECK(run_child([] { return errno_of(syscall(SYS_reboot, 0, 0, 0, nullptr)); }).code() ==
        EPERM);
  CHECK(run_child([] { return errno_of(syscall(SYS_settimeofday, nullptr, nullptr)); })
            .code() == EPERM);
  CHECK(run_child([] { return errno_of(syscall(SYS_iopl, 0)); }).code() == EPERM);
  CHECK(run_child([] { return errno_of(syscall(SYS_syslog, 10, nullptr, 0)); }).code() ==
        EPERM);
  CHECK(run_child([] { return errno_of(syscall(SYS_kcmp, 0, 0, 0, 0, 0)); }).code() == EPERM);
  CHECK(run_child([] {
          char buf[8];
          iovec local{buf, sizeof buf};
          iovec remote{buf, sizeof buf};
          return errno_of(syscall(SYS_process_vm_readv, getpid(), &local, 1, &remote, 1, 0));
        }).code() == EPERM);
  CHECK(run_child([] {
          return errno_of(syscall(SYS_open_by_handle_at, AT_FDCWD, nullptr, 0));
        }).code() == EPERM);
  // chroot follows Docker: allowed because the jail keeps CAP_SYS_CHROOT (ENOENT, not EPERM).
  CHECK(run_child([] { return errno_of(chroot("/nonexistent-nexus-seccomp")); }).code() ==
        ENOENT);
}

TEST_CASE("io_uring is refused", "[seccomp]") {
  const int code =
      run_child([] { return errno_of(syscall(SYS_io_uring_setup, 1, nullptr)); }).code();
  CHECK((code == EPERM || code == ENOSYS));
}

TEST_CASE("sockets: AF_VSOCK is refused, ordinary families work", "[seccomp]") {
  CHECK(run_child([] {
          const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
          if (fd < 0) return errno;
          const int fd6 = socket(AF_INET6, SOCK_DGRAM, 0);
          // AF_INET6 may be unsupported by the kernel; EPERM would be the filter.
          if (fd6 < 0 && errno == EPERM) return 100;
          return socket(AF_INET, SOCK_STREAM, 0) >= 0 ? 0 : errno;
        }).code() == 0);
  CHECK(run_child([] { return errno_of(socket(AF_VSOCK, SOCK_STREAM, 0)); }).code() == EPERM);
  // Upper-half junk: the kernel truncates the family to int, the filter must not be fooled.
  CHECK(run_child([] {
          return errno_of(syscall(SYS_socket, (1UL << 32) | AF_VSOCK, SOCK_STREAM, 0));
        }).code() == EPERM);
}

TEST_CASE("personality: only Docker's values", "[seccomp]") {
  CHECK(run_child([] { return personality(0xffffffff) >= 0 ? 0 : errno; }).code() == 0);
  CHECK(run_child([] { return personality(PER_LINUX) >= 0 ? 0 : errno; }).code() == 0);
  CHECK(run_child([] { return errno_of(personality(ADDR_NO_RANDOMIZE)); }).code() ==
        EPERM);
}

TEST_CASE("32-bit syscalls via int $0x80 are filtered, not a bypass", "[seccomp]") {
  if (!have_ia32_emulation()) {
    WARN("kernel has no IA-32 emulation; int $0x80 cannot be tested");
    return;
  }
  // Allowed 32-bit call still works under the filter.
  CHECK(run_child([] { return int80(k_x86_getpid) == static_cast<long>(getpid()) ? 0 : 1; })
            .code() == 0);
  // x86 mount (21) with a bad target: ENOENT without the filter.
  CHECK(run_child([] {
          static const char src[] = "none";
          // Strings must be addressable with 32 bits: map them low.
          void* low = mmap(nullptr, 4096, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
          if (low == MAP_FAILED) return 150;
          char* p = static_cast<char*>(low);
          std::memcpy(p, src, sizeof src);
          std::strcpy(p + 64, "/nonexistent-nexus-seccomp");
          std::strcpy(p + 128, "tmpfs");
          const auto addr = [](char* q) { return static_cast<long>(reinterpret_cast<std::uintptr_t>(q)); };
          const long rc = int80(k_x86_mount, addr(p), addr(p + 64), addr(p + 128), 0, 0);
          return rc < 0 ? static_cast<int>(-rc) : k_unexpected_success;
        }).code() == EPERM);
  // socketcall(SYS_SOCKET, {AF_VSOCK, ...}) hides the family in memory: must be refused,
  // and so must the direct 32-bit socket().
  CHECK(run_child([] {
          void* low = mmap(nullptr, 4096, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
          if (low == MAP_FAILED) return 150;
          auto* args = static_cast<std::uint32_t*>(low);
          args[0] = AF_VSOCK;
          args[1] = SOCK_STREAM;
          args[2] = 0;
          const long rc =
              int80(k_x86_socketcall, 1, static_cast<long>(reinterpret_cast<std::uintptr_t>(args)));
          return rc < 0 ? static_cast<int>(-rc) : k_unexpected_success;
        }).code() == EPERM);
  CHECK(run_child([] {
          const long rc = int80(k_x86_socket, AF_VSOCK, SOCK_STREAM, 0);
          return rc < 0 ? static_cast<int>(-rc) : k_unexpected_success;
        }).code() == EPERM);
}

TEST_CASE("a normal workload runs under the filter", "[seccomp]") {
  SECTION("fork + exec /bin/sh -c 'echo ok' + wait") {
    const auto r = run_child([] {
      const pid_t pid = fork();
      if (pid < 0) return 150;
      if (pid == 0) {
        execl("/bin/sh", "sh", "-c", "echo ok", static_cast<char*>(nullptr));
        _exit(127);
      }
      int status = 0;
      if (waitpid(pid, &status, 0) != pid) return 151;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 152;
    });
    CHECK(r.code() == 0);
    CHECK(r.output == "ok\n");
  }
  SECTION("std::thread") {
    const auto r = run_child([] {
      int value = 0;
      std::thread t([&value] { value = 42; });
      t.join();
      return value == 42 ? 0 : 1;
    });
    CHECK(r.code() == 0);
  }
  SECTION("dropping to an unprivileged user") {
    const auto r = run_child([] {
      if (getuid() != 0) return 0;  // nothing to drop
      const gid_t groups[] = {65534};
      if (setgroups(1, groups) != 0) return 10 + errno;
      if (setresgid(65534, 65534, 65534) != 0) return 20 + errno;
      if (setresuid(65534, 65534, 65534) != 0) return 30 + errno;
      return getuid() == 65534 ? 0 : 40;
    });
    CHECK(r.code() == 0);
  }
  SECTION("bash with a pipeline and command substitution") {
    if (access("/bin/bash", X_OK) != 0) {
      WARN("no /bin/bash; skipped");
      return;
    }
    const auto r = run_child([] {
      execl("/bin/bash", "bash", "-c", "x=$(echo hi | tr a-z A-Z); [ \"$x\" = HI ] && echo ok",
            static_cast<char*>(nullptr));
      return k_bad_output;
    });
    CHECK(r.code() == 0);
    CHECK(r.output == "ok\n");
  }
  SECTION("node with fs, a worker thread and a child process") {
    if (access("/usr/bin/node", X_OK) != 0) {
      WARN("no /usr/bin/node; skipped");
      return;
    }
    const auto r = run_child([] {
      execl("/usr/bin/node", "node", "-e",
            "const fs = require('fs'); fs.readFileSync('/etc/hostname');"
            "require('child_process').execFileSync('/bin/true');"
            "const { Worker } = require('worker_threads');"
            "new Worker('1', { eval: true }).on('exit', () => console.log('ok'));",
            static_cast<char*>(nullptr));
      return k_bad_output;
    });
    CHECK(r.code() == 0);
    CHECK(r.output == "ok\n");
  }
  SECTION("python3 with threads and subprocess") {
    if (access("/usr/bin/python3", X_OK) != 0) {
      WARN("no /usr/bin/python3; skipped");
      return;
    }
    const auto r = run_child([] {
      execl("/usr/bin/python3", "python3", "-c",
            "import json,threading,subprocess\n"
            "t = threading.Thread(target=lambda: None); t.start(); t.join()\n"
            "subprocess.run(['/bin/true'], check=True)\n"
            "print(json.dumps(1))",
            static_cast<char*>(nullptr));
      return k_bad_output;
    });
    CHECK(r.code() == 0);
    CHECK(r.output == "1\n");
  }
}
