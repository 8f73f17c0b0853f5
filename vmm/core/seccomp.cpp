// SPDX-License-Identifier: Apache-2.0
#include "vmm/core/seccomp.hpp"

#include <linux/kvm.h>
#include <seccomp.h>
#include <signal.h>
#include <ucontext.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <initializer_list>

namespace nexus::vmm {
namespace {

// Syscalls glibc and libstdc++ make on any thread (allocation, locks, signals, exit).
constexpr const char* kCommon[] = {
    "read", "write", "close", "futex", "brk", "mmap", "munmap", "mremap", "madvise", "mprotect",
    "rt_sigreturn", "rt_sigprocmask", "sigaltstack", "exit", "exit_group", "gettid", "getpid",
    "sched_yield", "clock_gettime", "clock_nanosleep", "nanosleep", "restart_syscall",
    "tgkill", "rseq", "epoll_ctl", "fstat", "newfstatat", "gettimeofday", "time",
    "clock_getres",
};

constexpr const char* kEvent[] = {
    "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2",
    "fdatasync", "fsync", "lseek", "epoll_wait", "epoll_pwait", "accept4", "connect",
    "sendmsg", "recvmsg", "sendto", "recvfrom", "shutdown", "getsockopt", "setsockopt",
    "getsockname", "fcntl", "timerfd_create", "timerfd_settime", "timerfd_gettime", "eventfd2",
    "getrandom", "tkill", "pipe2", "dup", "poll", "ppoll",
};

// NEXUS_VMM_SECCOMP_LOG=1 (debugging only): name the call and fail it with ENOSYS instead of
// exiting, so one run finds every call a new environment makes. The call is still refused.
bool g_log_only = false;

void on_sigsys(int, siginfo_t* info, void* context) {
  // Async-signal-safe: format the number by hand.
  char msg[96] = "nexus-vmm: seccomp: forbidden system call ";
  size_t n = std::strlen(msg);
  int nr = info->si_syscall;
  char digits[12];
  size_t d = 0;
  do digits[d++] = static_cast<char>('0' + nr % 10), nr /= 10;
  while (nr > 0 && d < sizeof digits);
  while (d > 0 && n < sizeof msg - 2) msg[n++] = digits[--d];
  msg[n++] = '\n';
  (void)!::write(2, msg, n);
  if (g_log_only) {
    static_cast<ucontext_t*>(context)->uc_mcontext.gregs[REG_RAX] = -ENOSYS;
    return;
  }
  ::_exit(1);
}

class Filter {
 public:
  Filter() : ctx_(seccomp_init(SCMP_ACT_TRAP)) {}
  ~Filter() {
    if (ctx_) seccomp_release(ctx_);
  }
  Result<void> allow(const char* name) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) return {};  // not on this architecture
    if (int rc = seccomp_rule_add(ctx_, SCMP_ACT_ALLOW, nr, 0); rc < 0)
      return fail_errno(-rc, std::string("seccomp rule for ") + name);
    return {};
  }
  Result<void> allow_ioctls(std::initializer_list<unsigned long> reqs) {
    for (unsigned long req : reqs)
      if (int rc = seccomp_rule_add(ctx_, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                                    SCMP_A1(SCMP_CMP_MASKED_EQ, 0xFFFFFFFFu, req));
          rc < 0)
        return fail_errno(-rc, "seccomp ioctl rule");
    return {};
  }
  Result<void> allow_unix_sockets() {
    if (int rc = seccomp_rule_add(ctx_, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                                  SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
        rc < 0)
      return fail_errno(-rc, "seccomp socket rule");
    return {};
  }
  Result<void> load() {
    if (!ctx_) return fail(Errc::internal, "seccomp_init failed");
    const char* log_only = std::getenv("NEXUS_VMM_SECCOMP_LOG");
    g_log_only = log_only && std::string_view(log_only) == "1";
    struct sigaction sa {};
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    if (::sigaction(SIGSYS, &sa, nullptr) != 0) return fail_errno("sigaction(SIGSYS)");
    if (int rc = seccomp_load(ctx_); rc < 0) return fail_errno(-rc, "loading the seccomp filter");
    return {};
  }

 private:
  scmp_filter_ctx ctx_;
};

Result<void> add_all(Filter& f, const char* const* names, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (auto r = f.allow(names[i]); !r) return r;
  return {};
}

}  // namespace

Result<void> install_vcpu_filter() {
  Filter f;
  if (auto r = add_all(f, kCommon, std::size(kCommon)); !r) return r;
  if (auto r = f.allow_ioctls({KVM_RUN, KVM_GET_REGS, KVM_GET_SREGS, KVM_KVMCLOCK_CTRL}); !r)
    return r;
  // Device activation and reset run on the event thread (MmioTransport), not here.
  return f.load();
}

Result<void> install_event_filter() {
  Filter f;
  if (auto r = add_all(f, kCommon, std::size(kCommon)); !r) return r;
  if (auto r = add_all(f, kEvent, std::size(kEvent)); !r) return r;
  if (auto r = f.allow_unix_sockets(); !r) return r;
  if (auto r = f.allow_ioctls({FIONBIO, FIONREAD}); !r) return r;
  return f.load();
}

}  // namespace nexus::vmm
