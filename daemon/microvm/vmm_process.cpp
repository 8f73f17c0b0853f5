// SPDX-License-Identifier: Apache-2.0
// Starting and stopping nexus-vmm.
#include "daemon/microvm/vmm_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "common/unique_fd.hpp"
#include "daemon/jail/cgroup.hpp"
#include "daemon/jail/process.hpp"
#include "daemon/microvm/control_client.hpp"

namespace nexus::microvm {
namespace {

constexpr uint64_t kKillWaitMs = 5000;
constexpr uint64_t kStopMarginMs = 1000;  // past the guest's own shutdown timeout
constexpr uint64_t kControlTimeoutMs = 1000;

// What the child reports on the exec pipe when a step fails before exec.
struct ChildFailure {
  int step;  // 0: joining a cgroup, 1: stdio, 2: exec
  int err;
};

Result<void> write_private_file(const std::string& path, const std::string& text) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return fail_errno(fmt::format("writing '{}'", path));
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail_errno(fmt::format("writing '{}'", path));
    done += static_cast<size_t>(n);
  }
  return {};
}

bool same_process(const VmmHandle& h) {
  auto st = jail::detail::read_proc_stat(h.pid);
  return st && st->start_time == h.start_time && st->state != 'Z' && st->state != 'X';
}

// Reap `h` if it is our child and has exited; true when it is gone (or not ours to reap).
bool reap_if_exited(const VmmHandle& h) {
  auto st = jail::detail::read_proc_stat(h.pid);
  if (!st || st->start_time != h.start_time) return true;
  if (st->state != 'Z' && st->state != 'X') return false;
  if (st->ppid == ::getpid()) (void)::waitpid(h.pid, nullptr, WNOHANG);
  return true;
}

// Wait until `h` has exited (and is reaped when ours), up to `ms`.
bool wait_gone(const VmmHandle& h, uint64_t ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, h.pid, 0)));
  while (!reap_if_exited(h)) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    if (pidfd) {
      pollfd p{pidfd.get(), POLLIN, 0};
      (void)::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 50)));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  return true;
}

}  // namespace

Result<VmmHandle> spawn_vmm(const VmmSpec& spec) {
  NEXUS_TRY(jail::detail::check_sandbox_id(spec.id));
  NEXUS_TRY(check_socket_paths(spec.paths));
  NEXUS_TRY(write_private_file(spec.paths.config, dump_json(to_json(spec.config), 2) + "\n"));
  auto cgroup = jail::detail::open_cgroup(spec.id);
  if (auto r = cgroup->create(spec.limits); !r)
    return fail(std::move(r).error().wrap(fmt::format("creating the cgroup of sandbox '{}'", spec.id)));
  auto undo_cgroup = [&] { (void)cgroup->remove(); };  // best effort on a failed start

  // Everything the child needs is opened before fork: it only writes, dups and execs.
  std::vector<UniqueFd> procs;
  for (const auto& f : cgroup->procs_files()) {
    UniqueFd fd(::open(f.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) {
      undo_cgroup();
      return fail_errno(fmt::format("opening '{}'", f));
    }
    procs.push_back(std::move(fd));
  }
  UniqueFd log(::open(spec.paths.vmm_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600));
  UniqueFd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!log || !null_fd) {
    undo_cgroup();
    return fail_errno(fmt::format("opening '{}'", spec.paths.vmm_log));
  }
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    undo_cgroup();
    return fail_errno("creating the exec report pipe");
  }
  UniqueFd report_r(pipe_fds[0]), report_w(pipe_fds[1]);
  std::string config_arg = spec.paths.config;
  std::vector<char*> argv = {const_cast<char*>(spec.vmm_path.c_str()), const_cast<char*>("--config"),
                             config_arg.data(), nullptr};

  pid_t pid = ::fork();
  if (pid < 0) {
    undo_cgroup();
    return fail_errno("fork");
  }
  if (pid == 0) {
    // Async-signal-safe calls only: the daemon has other threads.
    auto die = [&](int step) {
      ChildFailure f{step, errno};
      (void)!::write(report_w.get(), &f, sizeof f);
      ::_exit(127);
    };
    (void)::setsid();  // not in nexusd's process group: a Ctrl-C or a stopping nexusd leaves it
    sigset_t none;
    sigemptyset(&none);
    (void)::sigprocmask(SIG_SETMASK, &none, nullptr);
    (void)::signal(SIGPIPE, SIG_DFL);  // nexusd ignores it, and exec keeps ignored signals
    for (auto& fd : procs)
      if (::write(fd.get(), "0", 1) != 1) die(0);
    if (::dup2(null_fd.get(), 0) < 0 || ::dup2(log.get(), 1) < 0 || ::dup2(log.get(), 2) < 0) die(1);
    ::execv(argv[0], argv.data());
    die(2);
  }
  report_w.reset();
  ChildFailure f{};
  ssize_t n;
  do {
    n = ::read(report_r.get(), &f, sizeof f);
  } while (n < 0 && errno == EINTR);
  if (n == sizeof f) {
    (void)::waitpid(pid, nullptr, 0);
    undo_cgroup();
    const char* step = f.step == 0 ? "joining the sandbox cgroup" : f.step == 1 ? "setting up stdio" : "executing";
    return fail_errno(f.err, fmt::format("starting '{}': {}", spec.vmm_path, step));
  }
  auto st = jail::detail::read_proc_stat(pid);
  if (!st) {  // it died at once; reap it and say what it wrote
    (void)::waitpid(pid, nullptr, 0);
    undo_cgroup();
    return fail(Errc::internal, fmt::format("nexus-vmm exited at once: {}", last_log_line(spec.paths.vmm_log)));
  }
  return VmmHandle{pid, st->start_time};
}

Result<void> stop_vmm(const VmmHandle& h, const std::string& control_path, uint64_t timeout_ms) {
  if (h.pid <= 0 || reap_if_exited(h)) return {};
  // A VMM that does not answer (wedged, or its guest ignores the request) is killed below.
  Json req = {{"op", "stop"}, {"timeout_ms", timeout_ms}};
  if (timeout_ms > 0 && control_request(control_path, req, kControlTimeoutMs) &&
      wait_gone(h, timeout_ms + kStopMarginMs))
    return {};
  if (same_process(h)) (void)::kill(h.pid, SIGKILL);
  if (!wait_gone(h, kKillWaitMs))
    return fail(Errc::timeout, fmt::format("nexus-vmm {} did not exit after SIGKILL", h.pid));
  return {};
}

std::string last_log_line(const std::string& log_path) {
  UniqueFd fd(::open(log_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return {};
  struct stat sb{};
  if (::fstat(fd.get(), &sb) != 0) return {};
  constexpr off_t kTail = 4096;
  off_t from = sb.st_size > kTail ? sb.st_size - kTail : 0;
  std::string buf(static_cast<size_t>(sb.st_size - from), '\0');
  ssize_t n = ::pread(fd.get(), buf.data(), buf.size(), from);
  if (n <= 0) return {};
  buf.resize(static_cast<size_t>(n));
  while (!buf.empty() && (buf.back() == '\n' || buf.back() == '\r' || buf.back() == ' ')) buf.pop_back();
  size_t start = buf.rfind('\n');
  std::string line = start == std::string::npos ? buf : buf.substr(start + 1);
  for (char& c : line)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  if (line.size() > 300) line = line.substr(0, 300) + "...";
  return line;
}

}  // namespace nexus::microvm
