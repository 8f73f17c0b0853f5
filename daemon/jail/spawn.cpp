// SPDX-License-Identifier: Apache-2.0
// spawn(): start a sandbox: overlay, cgroups, namespaces, id maps, then exec the agent as PID 1.
//
// Process structure:
//   caller ── fork ──> helper (host root): private mount ns, overlay, joins the cgroups,
//                      unshares user/pid/net/uts/ipc/mount/cgroup namespaces, waits for the
//                      caller to write its uid/gid maps, then clones the init with
//                      CLONE_PARENT (so the init is the caller's child) and exits.
//   init (PID 1 in the new pid ns): rootfs, /proc, /dev, pivot_root, lo, capabilities,
//                      no_new_privs, seccomp, fexecve(agent).
// Both children report a failed step on a CLOEXEC pipe; EOF without a report means the
// agent was exec'd.
#include <fcntl.h>
#include <linux/keyctl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>

#include <fmt/format.h>

#include "common/unique_fd.hpp"
#include "daemon/jail/capabilities.hpp"
#include "daemon/jail/cgroup.hpp"
#include "daemon/jail/child_report.hpp"
#include "daemon/jail/files.hpp"
#include "daemon/jail/jail.hpp"
#include "daemon/jail/loopback.hpp"
#include "daemon/jail/mounts.hpp"
#include "daemon/jail/process.hpp"
#include "daemon/jail/seccomp_filter.hpp"
#include "daemon/jail/userns.hpp"

namespace nexus::jail {
namespace {

using detail::ChildMessage;
using detail::ChildStatus;
using detail::MessageKind;

// Fixed descriptors in the init just before exec: 0-2 stdio, 3 the listen socket,
// 4 the agent binary and 5 the report pipe (both close on exec).
constexpr int kListenFd = 3;
constexpr int kExecFd = 4;
constexpr int kReportFd = 5;
constexpr auto kSpawnTimeout = std::chrono::seconds(30);

constexpr int kNamespaceFlags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS |
                                CLONE_NEWIPC | CLONE_NEWNS | CLONE_NEWCGROUP;

// Everything the children use, prepared before fork (no allocation after it, except in the
// seccomp step, see seccomp_filter.hpp).
struct ChildPlan {
  detail::RootfsPlan rootfs;
  std::vector<std::string> procs_files;
  std::vector<std::string> join_steps;
  std::string hostname;
  std::vector<std::string> argv_strings;
  std::vector<std::string> env_strings;
  std::vector<char*> argv;
  std::vector<char*> envp;
  int last_cap = 0;
  int log_fd = -1;
  int null_fd = -1;
  int listen_fd = -1;
  int exec_fd = -1;
  int netns_fd = -1;        // the sandbox's network namespace made by nexusd; -1: a new empty one
  int report_fd = -1;       // write end of the report pipe
  int report_read_fd = -1;  // the caller's end, closed in the children
  int sync_fd = -1;         // helper's end of the "id maps written" socket pair
  int sync_write_fd = -1;   // the caller's end, closed in the children
};

bool bad_option_chars(const std::string& path) {
  // overlayfs options are comma separated and lowerdir uses ':' between layers.
  return path.find_first_of(",:\\\n") != std::string::npos;
}

Result<void> check_spec(const Spec& spec) {
  NEXUS_TRY(detail::check_sandbox_id(spec.id));
  for (const auto* p : {&spec.lower_dir, &spec.sandbox_dir, &spec.agent_path}) {
    if (p->empty() || (*p)[0] != '/')
      return fail(Errc::invalid_argument, fmt::format("path '{}' must be absolute", *p));
  }
  if (bad_option_chars(spec.lower_dir) || bad_option_chars(spec.sandbox_dir))
    return fail(Errc::invalid_argument,
                "lower_dir and sandbox_dir must not contain ',', ':', '\\' or newlines");
  // uid_base 0 would map container root to host root.
  if (spec.uid_base == 0 || spec.uid_count == 0 ||
      uint64_t{spec.uid_base} + spec.uid_count > uint64_t{UINT32_MAX})
    return fail(Errc::invalid_argument, "uid_base must be > 0 and the id range must fit");
  if (spec.listen_fd >= 0 && ::fcntl(spec.listen_fd, F_GETFD) < 0)
    return fail_errno("checking listen_fd");
  return {};
}

bool has_env(const std::vector<std::string>& env, std::string_view name) {
  return std::any_of(env.begin(), env.end(), [&](const std::string& e) {
    return e.size() > name.size() && e.compare(0, name.size(), name) == 0 &&
           e[name.size()] == '=';
  });
}

// Host side: the per-sandbox directories. upper/ is the overlay root's real inode, so it
// gets the lower root's owner (container root) and mode.
Result<void> make_sandbox_dirs(const Spec& spec) {
  NEXUS_TRY(detail::make_dir(spec.sandbox_dir, 0700));
  std::string upper = spec.sandbox_dir + "/upper";
  NEXUS_TRY(detail::make_dir(upper, 0755));
  struct stat lower;
  if (::stat(spec.lower_dir.c_str(), &lower) == 0) {
    if (::chown(upper.c_str(), lower.st_uid, lower.st_gid) != 0 ||
        ::chmod(upper.c_str(), lower.st_mode & 07777) != 0)
      return fail_errno(fmt::format("preparing '{}'", upper));
  }
  NEXUS_TRY(detail::make_dir(spec.sandbox_dir + "/work", 0700));
  NEXUS_TRY(detail::make_dir(spec.sandbox_dir + "/rootfs", 0755));
  return {};
}

// ---- children (async-signal-safe from here to the parent section) ----

ChildStatus join_cgroups(const ChildPlan& plan) noexcept {
  // Joined before any sandbox code runs; every later process inherits the cgroups, and
  // the cgroup namespace unshared next makes them the sandbox's "/".
  for (size_t i = 0; i < plan.procs_files.size(); ++i) {
    int fd = ::open(plan.procs_files[i].c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return detail::child_errno(plan.join_steps[i].c_str());
    ssize_t w = ::write(fd, "0", 1);  // "0" = the writing process
    int err = errno;
    ::close(fd);
    if (w != 1) return detail::child_error(plan.join_steps[i].c_str(), err);
  }
  return {};
}

// Move the descriptors the agent gets to their fixed numbers and close all others, so no
// daemon descriptor (database, API sockets, other sandboxes' sockets) leaks in.
ChildStatus arrange_fds(const ChildPlan& plan, int& report) noexcept {
  // First move everything above the target range, so no dup2 below clobbers a source.
  int null_fd = ::fcntl(plan.null_fd, F_DUPFD_CLOEXEC, kReportFd + 1);
  int log_fd = ::fcntl(plan.log_fd, F_DUPFD_CLOEXEC, kReportFd + 1);
  int exec_fd = ::fcntl(plan.exec_fd, F_DUPFD_CLOEXEC, kReportFd + 1);
  int report_fd = ::fcntl(report, F_DUPFD_CLOEXEC, kReportFd + 1);
  int listen_fd = plan.listen_fd >= 0 ? ::fcntl(plan.listen_fd, F_DUPFD_CLOEXEC, kReportFd + 1)
                                      : -1;
  if (null_fd < 0 || log_fd < 0 || exec_fd < 0 || report_fd < 0 ||
      (plan.listen_fd >= 0 && listen_fd < 0))
    return detail::child_errno("duplicating descriptors for the agent");
  if (::dup3(report_fd, kReportFd, O_CLOEXEC) < 0)
    return detail::child_errno("duplicating descriptors for the agent");
  report = kReportFd;
  // dup2 clears FD_CLOEXEC: exactly the descriptors the agent must inherit.
  if (::dup2(null_fd, 0) < 0 || ::dup2(log_fd, 1) < 0 || ::dup2(log_fd, 2) < 0 ||
      ::dup3(exec_fd, kExecFd, O_CLOEXEC) < 0)
    return detail::child_errno("duplicating descriptors for the agent");
  if (listen_fd >= 0) {
    if (::dup2(listen_fd, kListenFd) < 0)
      return detail::child_errno("passing the listen socket as fd 3");
  } else {
    ::close(kListenFd);
  }
  if (::syscall(SYS_close_range, kReportFd + 1, ~0U, 0) != 0) {
    for (int fd = kReportFd + 1; fd < 65536; ++fd) ::close(fd);
  }
  return {};
}

void reset_signals() noexcept {
  // Ignored signals stay ignored across exec; the agent must start with defaults and an
  // empty mask whatever the daemon set up.
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    (void)::sigaction(sig, &sa, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  (void)::sigprocmask(SIG_SETMASK, &none, nullptr);
}

// Resource limits the sandbox starts with, instead of whatever nexusd inherited: no core
// dumps (they would land in the sandbox's writable layer, and can hold secrets of the dumped
// process), and a bounded number of open files. Only lowering is attempted, which needs no
// privilege.
ChildStatus set_sandbox_rlimits() noexcept {
  struct rlimit core{0, 0};
  if (::setrlimit(RLIMIT_CORE, &core) != 0) return detail::child_errno("limiting core dumps");
  struct rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) != 0) return detail::child_errno("reading the open-files limit");
  constexpr rlim_t kMaxOpenFiles = 65536;
  if (nofile.rlim_max == RLIM_INFINITY || nofile.rlim_max > kMaxOpenFiles) nofile.rlim_max = kMaxOpenFiles;
  nofile.rlim_cur = nofile.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &nofile) != 0) return detail::child_errno("limiting open files");
  return {};
}

[[noreturn]] void run_init(const ChildPlan& plan) noexcept {
  int report = plan.report_fd;
  auto check = [&](const ChildStatus& st) {
    if (!st) detail::child_fail(report, st);
  };
  check(arrange_fds(plan, report));
  check(set_sandbox_rlimits());
  reset_signals();
  ::umask(022);
  if (::setsid() < 0) check(detail::child_errno("creating a session"));
  if (::sethostname(plan.hostname.data(), plan.hostname.size()) != 0)
    check(detail::child_errno("setting the hostname"));
  check(detail::prepare_rootfs(plan.rootfs));
  check(detail::become_namespace_root());
  // A fresh anonymous session keyring: the inherited one is the daemon's, and possessing it
  // would grant access to its keys regardless of the uid change.
  if (::syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, nullptr) < 0 && errno != ENOSYS)
    check(detail::child_errno("creating a session keyring"));
  check(detail::populate_dev());
  check(detail::pivot_to_cwd());
  check(detail::bring_up_loopback());
  check(detail::drop_capabilities(plan.last_cap));
  // no_new_privs: no exec can gain privileges (setuid files, file capabilities), and it
  // allows installing the seccomp filter without CAP_SYS_ADMIN.
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    check(detail::child_errno("setting no_new_privs"));
  // Last: the filter may forbid calls the steps above need.
  if (auto r = install_seccomp_filter(); !r) {
    int err = r.error().errno_value();
    check(detail::child_error("installing the seccomp filter", err ? err : EPERM));
  }
  // The binary was opened on the host, so no host path has to exist inside.
  ::syscall(SYS_execveat, kExecFd, "", plan.argv.data(), plan.envp.data(), AT_EMPTY_PATH);
  detail::child_fail(report, detail::child_errno("executing the agent"));
}

[[noreturn]] void run_helper(const ChildPlan& plan) noexcept {
  ::close(plan.report_read_fd);
  ::close(plan.sync_write_fd);  // so a dead caller means EOF here, not a hang
  auto check = [&](const ChildStatus& st) {
    if (!st) detail::child_fail(plan.report_fd, st);
  };
  check(detail::mount_overlay(plan.rootfs));
  check(join_cgroups(plan));
  int flags = kNamespaceFlags;
  if (plan.netns_fd >= 0) {
    // Joined while still in the host's user namespace (setns needs CAP_SYS_ADMIN over the
    // namespace's owner); the sandbox's own user namespace then has no power over it, so
    // nothing inside can change its addresses, routes or interfaces.
    if (::setns(plan.netns_fd, CLONE_NEWNET) != 0) check(detail::child_errno("joining the sandbox's network namespace"));
    ::close(plan.netns_fd);
    flags &= ~CLONE_NEWNET;
  }
  if (::unshare(flags) != 0) check(detail::child_errno("creating namespaces"));
  detail::send_message(plan.report_fd, MessageKind::unshared, 0, 0, nullptr);
  char go = 0;
  ssize_t n;
  do {
    n = ::read(plan.sync_fd, &go, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1) ::_exit(1);  // the caller gave up; it reports why
  // CLONE_PARENT: the init becomes the caller's child, so the caller can wait for it after
  // this helper is gone. Being the first process in the new pid namespace makes it PID 1.
  long pid = ::syscall(SYS_clone, CLONE_PARENT | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
  if (pid < 0) check(detail::child_errno("starting the sandbox init"));
  if (pid == 0) run_init(plan);
  detail::send_message(plan.report_fd, MessageKind::init_pid, 0, static_cast<int>(pid), nullptr);
  ::_exit(0);
}

// ---- parent side ----

void kill_and_reap(pid_t pid) {
  if (pid <= 0) return;
  (void)::kill(pid, SIGKILL);
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

class SpawnSession {
 public:
  SpawnSession(const Spec& spec, detail::Cgroup& cgroup) : spec_(spec), cgroup_(cgroup) {}
  SpawnSession(const SpawnSession&) = delete;
  SpawnSession& operator=(const SpawnSession&) = delete;
  ~SpawnSession() {
    if (done_) return;
    // Failure: nothing of the half-started sandbox may survive.
    kill_and_reap(init_pid_);
    kill_and_reap(helper_pid_);
    cgroup_.kill_all();
    (void)cgroup_.remove();
  }

  Result<Handle> run(ChildPlan& plan, UniqueFd report_read, UniqueFd sync_write) {
    pid_t pid = ::fork();
    if (pid < 0) {
      int err = errno;
      ::close(plan.report_fd);
      ::close(plan.sync_fd);
      return fail_errno(err, "forking the sandbox helper");
    }
    if (pid == 0) run_helper(plan);
    helper_pid_ = pid;
    ::close(plan.report_fd);
    ::close(plan.sync_fd);

    auto deadline = std::chrono::steady_clock::now() + kSpawnTimeout;
    std::optional<Error> child_error;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return fail(Errc::timeout, "timed out starting the sandbox");
      struct pollfd pfd{report_read.get(), POLLIN, 0};
      int pr = ::poll(&pfd, 1, static_cast<int>(left.count()));
      if (pr < 0 && errno == EINTR) continue;
      if (pr < 0) return fail_errno("waiting for the sandbox helper");
      if (pr == 0) continue;
      ChildMessage m;
      ssize_t n = ::read(report_read.get(), &m, sizeof(m));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail_errno("reading the sandbox helper's report");
      if (n == 0) break;  // both children closed it: helper exited, init exec'd or died
      if (static_cast<size_t>(n) != sizeof(m))
        return fail(Errc::internal, "short report from the sandbox helper");
      m.step[sizeof(m.step) - 1] = '\0';
      switch (m.kind) {
        case MessageKind::error:
          if (!child_error) child_error = Error::from_errno(m.err, m.step);
          break;
        case MessageKind::unshared: {
          // Only a process outside the new user namespace with CAP_SETUID/CAP_SETGID
          // there can write a map covering ids other than its own.
          auto r = detail::write_id_maps(helper_pid_, spec_.uid_base, spec_.uid_count);
          if (!r) return fail(std::move(r).error().wrap("mapping the sandbox's ids"));
          // A socket, not a pipe: MSG_NOSIGNAL keeps a dead helper from raising SIGPIPE here.
          if (::send(sync_write.get(), "1", 1, MSG_NOSIGNAL) != 1)
            return fail_errno("signalling the sandbox helper");
          break;
        }
        case MessageKind::init_pid:
          init_pid_ = m.pid;
          break;
      }
    }
    int status = 0;
    pid_t w;
    do {
      w = ::waitpid(helper_pid_, &status, 0);
    } while (w < 0 && errno == EINTR);
    helper_pid_ = -1;
    if (child_error) return fail(std::move(*child_error));
    if (w > 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
      return fail(Errc::internal, fmt::format("the sandbox helper failed (status {:#x})", status));
    if (init_pid_ <= 0) return fail(Errc::internal, "the sandbox helper reported no init");
    auto st = detail::read_proc_stat(init_pid_);
    if (!st) return fail(std::move(st).error().wrap("reading the sandbox init's start time"));
    done_ = true;
    return Handle{init_pid_, st->start_time};
  }

 private:
  const Spec& spec_;
  detail::Cgroup& cgroup_;
  pid_t helper_pid_ = -1;
  pid_t init_pid_ = -1;
  bool done_ = false;
};

Result<UniqueFd> open_fd(const std::string& path, int flags, mode_t mode, std::string_view what) {
  UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC, mode));
  if (!fd) return fail_errno(fmt::format("opening {} '{}'", what, path));
  return fd;
}

}  // namespace

Result<Handle> spawn(const Spec& spec) {
  NEXUS_TRY(check_spec(spec));
  NEXUS_TRY(make_sandbox_dirs(spec));

  auto agent = open_fd(spec.agent_path, O_PATH, 0, "the agent");
  if (!agent) return fail(std::move(agent).error());
  struct stat ast;
  if (::fstat(agent->get(), &ast) != 0) return fail_errno("inspecting the agent");
  if (!S_ISREG(ast.st_mode) || (ast.st_mode & 0111) == 0)
    return fail(Errc::invalid_argument,
                fmt::format("the agent '{}' is not an executable file", spec.agent_path));
  auto null_fd = open_fd("/dev/null", O_RDONLY, 0, "");
  if (!null_fd) return fail(std::move(null_fd).error());
  auto log_fd = spec.log_path.empty()
                    ? open_fd("/dev/null", O_WRONLY, 0, "")
                    : open_fd(spec.log_path, O_WRONLY | O_APPEND | O_CREAT | O_NOCTTY, 0640,
                              "the sandbox log");
  if (!log_fd) return fail(std::move(log_fd).error());
  UniqueFd netns;
  if (!spec.netns_path.empty()) {
    auto ns = open_fd(spec.netns_path, O_RDONLY, 0, "the sandbox's network namespace");
    if (!ns) return fail(std::move(ns).error());
    netns = std::move(*ns);
  }

  ChildPlan plan;
  plan.rootfs = detail::make_rootfs_plan(spec.lower_dir, spec.sandbox_dir, spec.uid_base);
  plan.hostname = spec.id;
  plan.last_cap = detail::last_capability();
  auto slash = spec.agent_path.rfind('/');
  plan.argv_strings.push_back(spec.agent_path.substr(slash + 1));
  plan.argv_strings.insert(plan.argv_strings.end(), spec.agent_args.begin(),
                           spec.agent_args.end());
  plan.env_strings = spec.env;
  if (spec.listen_fd >= 0) {
    // sd_listen_fds() semantics; the agent is PID 1 in its namespace.
    if (!has_env(spec.env, "LISTEN_FDS")) plan.env_strings.emplace_back("LISTEN_FDS=1");
    if (!has_env(spec.env, "LISTEN_PID")) plan.env_strings.emplace_back("LISTEN_PID=1");
  }
  for (auto& s : plan.argv_strings) plan.argv.push_back(s.data());
  plan.argv.push_back(nullptr);
  for (auto& s : plan.env_strings) plan.envp.push_back(s.data());
  plan.envp.push_back(nullptr);
  plan.log_fd = log_fd->get();
  plan.null_fd = null_fd->get();
  plan.exec_fd = agent->get();
  plan.listen_fd = spec.listen_fd;
  plan.netns_fd = netns.get();

  auto cgroup = detail::open_cgroup(spec.id);
  if (auto r = cgroup->create(spec.limits); !r) {
    (void)cgroup->remove();
    return fail(std::move(r).error().wrap("creating the sandbox's cgroups"));
  }
  plan.procs_files = cgroup->procs_files();
  for (const auto& f : plan.procs_files)
    plan.join_steps.push_back(fmt::format("joining cgroup '{}'", f));

  SpawnSession session(spec, *cgroup);  // from here on, failure removes the cgroups
  int report[2], sync_pair[2];
  if (::pipe2(report, O_CLOEXEC) != 0) return fail_errno("creating the report pipe");
  UniqueFd report_read(report[0]);
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sync_pair) != 0) {
    ::close(report[1]);
    return fail_errno("creating the sync socket");
  }
  UniqueFd sync_write(sync_pair[1]);
  plan.report_fd = report[1];
  plan.report_read_fd = report[0];
  plan.sync_fd = sync_pair[0];
  plan.sync_write_fd = sync_pair[1];
  return session.run(plan, std::move(report_read), std::move(sync_write));
}

}  // namespace nexus::jail
