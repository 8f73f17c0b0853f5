// SPDX-License-Identifier: Apache-2.0
// run_bounded(): fork, exec, poll both pipes against a deadline, kill the group on overrun.
#include "common/bounded_run.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "common/unique_fd.hpp"

namespace nexus {
namespace {

using Clock = std::chrono::steady_clock;

int64_t ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

Result<void> make_pipe(UniqueFd& r, UniqueFd& w, const char* what) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return fail_errno(fmt::format("creating the {} pipe", what));
  r.reset(fds[0]);
  w.reset(fds[1]);
  return {};
}

// Read what is there; false at end of file (or an error other than EINTR/EAGAIN).
bool drain(int fd, std::string& into, size_t max) {
  char buf[4096];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n < 0) return errno == EINTR || errno == EAGAIN;
  if (n == 0) return false;
  size_t room = max - std::min(max, into.size());
  into.append(buf, std::min(room, static_cast<size_t>(n)));
  return true;
}

}  // namespace

Result<RunOutput> run_bounded(const std::vector<std::string>& argv, uint64_t timeout_ms,
                              size_t max_output) {
  if (argv.empty()) return fail(Errc::invalid_argument, "run_bounded: empty command");
  UniqueFd out_r, out_w, err_r, err_w, exec_r, exec_w;
  NEXUS_TRY(make_pipe(out_r, out_w, "stdout"));
  NEXUS_TRY(make_pipe(err_r, err_w, "stderr"));
  NEXUS_TRY(make_pipe(exec_r, exec_w, "exec report"));
  UniqueFd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!null_fd) return fail_errno("opening /dev/null");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  auto started = Clock::now();
  pid_t pid = ::fork();
  if (pid < 0) return fail_errno(fmt::format("running '{}': fork", argv[0]));
  if (pid == 0) {
    // Only async-signal-safe calls from here: the daemon has other threads.
    (void)::setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    (void)::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::dup2(null_fd.get(), 0) < 0 || ::dup2(out_w.get(), 1) < 0 || ::dup2(err_w.get(), 2) < 0)
      ::_exit(127);
    ::execv(args[0], args.data());
    int e = errno;
    (void)!::write(exec_w.get(), &e, sizeof e);
    ::_exit(127);
  }
  (void)::setpgid(pid, pid);  // also from here, so the kill below cannot miss the group
  out_w.reset();
  err_w.reset();
  exec_w.reset();
  int exec_errno = 0;
  if (::read(exec_r.get(), &exec_errno, sizeof exec_errno) == sizeof exec_errno) {
    (void)::waitpid(pid, nullptr, 0);
    return fail_errno(exec_errno, fmt::format("running '{}'", argv[0]));
  }

  RunOutput result;
  auto deadline = started + std::chrono::milliseconds(timeout_ms);
  bool out_open = true, err_open = true;
  while (out_open || err_open) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      break;
    }
    pollfd fds[2] = {{out_open ? out_r.get() : -1, POLLIN, 0}, {err_open ? err_r.get() : -1, POLLIN, 0}};
    int n = ::poll(fds, 2, static_cast<int>(left.count()));
    if (n < 0 && errno != EINTR) return fail_errno(fmt::format("running '{}': poll", argv[0]));
    if (n <= 0) continue;
    if (fds[0].revents) out_open = drain(out_r.get(), result.out, max_output);
    if (fds[1].revents) err_open = drain(err_r.get(), result.err, max_output);
  }
  // Both pipes closed: the program is exiting, or it closed them and lives on; it still
  // gets only until the deadline.
  int status = 0;
  for (;;) {
    pid_t r = result.timed_out ? 0 : ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return fail_errno(fmt::format("running '{}': waitpid", argv[0]));
    if (result.timed_out || Clock::now() >= deadline) {
      result.timed_out = true;
      (void)::kill(-pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    ::usleep(2000);
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  result.duration_ms = ms_since(started);
  return result;
}

}  // namespace nexus
