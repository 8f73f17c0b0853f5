// SPDX-License-Identifier: Apache-2.0
// Builds and installs the jail's seccomp filter (allowlist + conditional rules) with libseccomp.
#include "daemon/jail/seccomp_filter.hpp"

#include <sched.h>
#include <seccomp.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/utsname.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace nexus::jail {
namespace {

// The unconditional allowlist (one syscall per line, commented where not obvious).
constexpr const char* k_allowlist[] = {
#include "seccomp_policy.inc"
};

// Syscalls newer than the profile that libc probes and falls back from on ENOSYS (an EPERM
// would be reported to the caller as a hard failure). Still denied, just with ENOSYS.
// Names this libseccomp does not know are skipped.
constexpr const char* k_enosys_newer[] = {
    "fchmodat2",         // glibc >= 2.39 lchmod/fchmodat(AT_SYMLINK_NOFOLLOW) -> fchmodat
    "map_shadow_stack",  // glibc CET shadow stack setup; absent means "no shadow stack"
    "cachestat",
    "futex_wake",
    "futex_wait",
    "futex_requeue",
    "statmount",
    "listmount",
    "mseal",
};

// Namespace-creating clone flags (Docker's mask 0x7E020000). CLONE_NEWTIME cannot be passed
// to clone() (its bit is part of the exit-signal byte), only to clone3/unshare: both denied.
constexpr std::uint64_t k_clone_namespace_flags =
    CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |
    CLONE_NEWCGROUP;
static_assert(k_clone_namespace_flags == 0x7E020000u, "mask must match Docker's profile");

// personality() values Docker allows: PER_LINUX, PER_LINUX32, UNAME26, both, and the query.
constexpr std::uint64_t k_personality_values[] = {
    PER_LINUX,
    PER_LINUX32,
    UNAME26,
    std::uint64_t{PER_LINUX32} | UNAME26,
    0xffffffffu,  // personality(0xffffffff) only reads the current persona
};

// socketcall(2) call number for socket() (linux/net.h SYS_SOCKET; that header clashes with
// glibc's socket headers).
constexpr std::uint64_t k_socketcall_sys_socket = 1;

struct ctx_deleter {
  void operator()(void* ctx) const noexcept { seccomp_release(ctx); }
};
using ctx_ptr = std::unique_ptr<void, ctx_deleter>;

tl::unexpected<Error> seccomp_fail(int rc, const std::string& what) {
  // libseccomp returns -errno (SCMP_FLTATR_API_SYSRAWRC makes kernel errors pass through).
  return fail_errno(rc < 0 ? -rc : EINVAL, "seccomp: " + what);
}

scmp_arg_cmp arg_cmp(unsigned int arg, scmp_compare op, std::uint64_t a, std::uint64_t b = 0) {
  scmp_arg_cmp c{};
  c.arg = arg;
  c.op = op;
  c.datum_a = a;
  c.datum_b = b;
  return c;
}

bool kernel_at_least(int want_major, int want_minor) {
  utsname u{};
  if (uname(&u) != 0) return false;
  int major = 0;
  int minor = 0;
  if (std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
  return major > want_major || (major == want_major && minor >= want_minor);
}

/// Rules for one architecture, in a context that holds only that architecture.
class arch_filter {
 public:
  arch_filter(scmp_filter_ctx ctx, std::uint32_t arch) : ctx_(ctx), arch_(arch) {}

  /// Whether `name` is a syscall on this architecture (possibly via a multiplexer such as
  /// socketcall/ipc on x86), as far as this libseccomp knows.
  bool exists(const char* name) const {
    return seccomp_syscall_resolve_name_rewrite(arch_, name) >= 0;
  }

  /// Add a rule for `name`; a no-op when the syscall does not exist on this architecture.
  Result<void> add(const char* name, std::uint32_t action,
                   std::initializer_list<scmp_arg_cmp> args = {}) {
    if (!exists(name)) return {};
    // Rules take the native (or libseccomp pseudo) number; libseccomp translates it by name.
    const int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) return {};
    const int rc = seccomp_rule_add_array(ctx_, action, nr, static_cast<unsigned>(args.size()),
                                          args.size() ? std::data(args) : nullptr);
    if (rc < 0) return seccomp_fail(rc, std::string("adding rule for ") + name);
    return {};
  }

  std::uint32_t arch() const { return arch_; }

 private:
  scmp_filter_ctx ctx_;
  std::uint32_t arch_;
};

Result<void> add_socket_rules(arch_filter& f) {
  if (f.arch() == SCMP_ARCH_X86) {
    // i386 passes socket()'s arguments to socketcall through memory, where seccomp cannot
    // see the address family, and libseccomp turns any "socket" rule into an unconditional
    // socketcall(SYS_SOCKET). So on x86: socketcall for everything but SYS_SOCKET, and no
    // socket() at all (stricter than Docker, which lets x86 create AF_VSOCK sockets).
    // The other socket calls (connect, sendmsg, ...) come from the allowlist.
    return f.add("socketcall", SCMP_ACT_ALLOW,
                 {arg_cmp(0, SCMP_CMP_NE, k_socketcall_sys_socket)});
  }
  // Docker: socket(domain != AF_VSOCK). Docker compares all 64 bits with NE, which a caller
  // passes with junk in the upper half (the kernel truncates domain to int). So allow
  // domain < AF_VSOCK (unsigned 64-bit: upper half must be zero) and the few families
  // above it exactly.
  NEXUS_TRY(f.add("socket", SCMP_ACT_ALLOW, {arg_cmp(0, SCMP_CMP_LT, AF_VSOCK)}));
  for (std::uint64_t family = AF_VSOCK + 1; family < AF_MAX; ++family)
    NEXUS_TRY(f.add("socket", SCMP_ACT_ALLOW, {arg_cmp(0, SCMP_CMP_EQ, family)}));
  return {};
}

Result<void> add_rules(arch_filter& f, bool allow_ptrace) {
  for (const char* name : k_allowlist) NEXUS_TRY(f.add(name, SCMP_ACT_ALLOW));

  NEXUS_TRY(add_socket_rules(f));

  for (std::uint64_t value : k_personality_values)
    NEXUS_TRY(f.add("personality", SCMP_ACT_ALLOW, {arg_cmp(0, SCMP_CMP_EQ, value)}));

  // clone: threads and fork yes, new namespaces no (flags are argument 0 on x86; s390 differs
  // and is not supported here).
  NEXUS_TRY(f.add("clone", SCMP_ACT_ALLOW,
                  {arg_cmp(0, SCMP_CMP_MASKED_EQ, k_clone_namespace_flags, 0)}));
  // clone3 passes its flags in memory, out of seccomp's sight: ENOSYS so libc uses clone.
  NEXUS_TRY(f.add("clone3", SCMP_ACT_ERRNO(ENOSYS)));
  for (const char* name : k_enosys_newer) NEXUS_TRY(f.add(name, SCMP_ACT_ERRNO(ENOSYS)));

  // Docker allows ptrace from kernel 4.8 (seccomp is re-checked after a tracer changes the
  // syscall). process_vm_readv/writev, kcmp, pidfd_getfd and process_madvise stay denied
  // (CAP_SYS_PTRACE-gated or kept stricter than Docker).
  if (allow_ptrace) NEXUS_TRY(f.add("ptrace", SCMP_ACT_ALLOW));

  // x86-specific: arch_prctl on the 64-bit ABIs only (as Docker), modify_ldt on all three.
  if (f.arch() != SCMP_ARCH_X86) NEXUS_TRY(f.add("arch_prctl", SCMP_ACT_ALLOW));
  NEXUS_TRY(f.add("modify_ldt", SCMP_ACT_ALLOW));
  return {};
}

/// A context with the filter-wide attributes; the same for every architecture so that the
/// per-architecture contexts can be merged.
Result<ctx_ptr> new_context(std::uint32_t arch) {
  ctx_ptr ctx(seccomp_init(SCMP_ACT_ERRNO(EPERM)));
  if (!ctx) return fail(Errc::internal, "seccomp: seccomp_init failed");
  int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_API_SYSRAWRC, 1);
  if (rc < 0) return seccomp_fail(rc, "setting SYSRAWRC");
  rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (rc < 0) return seccomp_fail(rc, "setting the bad-arch action");
  rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 1);
  if (rc < 0) return seccomp_fail(rc, "setting NNP");
  // Binary-tree syscall dispatch: ~350 rules would otherwise be a linear scan per syscall.
  rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);
  if (rc < 0) return seccomp_fail(rc, "setting the optimisation level");

  const std::uint32_t native = seccomp_arch_native();
  if (arch != native) {
    rc = seccomp_arch_remove(ctx.get(), native);
    if (rc < 0) return seccomp_fail(rc, "removing the native architecture");
    rc = seccomp_arch_add(ctx.get(), arch);
    if (rc < 0) return seccomp_fail(rc, "adding architecture " + std::to_string(arch));
  }
  return ctx;
}

/// Secondary ABIs the kernel also accepts on this machine (Docker's archMap, x86 and ARM).
std::vector<std::uint32_t> filtered_arches() {
  const std::uint32_t native = seccomp_arch_native();
  if (native == SCMP_ARCH_X86_64) return {SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32};
  if (native == SCMP_ARCH_AARCH64) return {SCMP_ARCH_AARCH64, SCMP_ARCH_ARM};
  return {native};
}

Result<ctx_ptr> build_filter() {
  const bool allow_ptrace = kernel_at_least(4, 8);
  ctx_ptr merged;
  for (std::uint32_t arch : filtered_arches()) {
    auto ctx = new_context(arch);
    if (!ctx) return fail(std::move(ctx).error());
    arch_filter f(ctx->get(), arch);
    if (auto r = add_rules(f, allow_ptrace); !r) {
      return fail(std::move(r).error().wrap("architecture " + std::to_string(arch)));
    }
    if (!merged) {
      merged = std::move(*ctx);
      continue;
    }
    const int rc = seccomp_merge(merged.get(), ctx->get());
    if (rc < 0) return seccomp_fail(rc, "merging architecture " + std::to_string(arch));
    (void)ctx->release();  // seccomp_merge freed the source context
  }
  return merged;
}

}  // namespace

Result<void> install_seccomp_filter() {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return fail_errno("prctl(PR_SET_NO_NEW_PRIVS)");
  auto ctx = build_filter();
  if (!ctx) return fail(std::move(ctx).error());
  int rc = seccomp_attr_set(ctx->get(), SCMP_FLTATR_CTL_TSYNC, 1);
  if (rc < 0) return seccomp_fail(rc, "setting TSYNC");
  rc = seccomp_load(ctx->get());
  if (rc < 0) return seccomp_fail(rc, "loading the filter");
  return {};
}

const std::vector<const char*>& seccomp_allowed_syscalls() {
  static const std::vector<const char*> names(std::begin(k_allowlist), std::end(k_allowlist));
  return names;
}

}  // namespace nexus::jail
