// SPDX-License-Identifier: Apache-2.0
// fork/exec with identity change, session, stdio pipes and exec-error reporting.
#include "guest-agent/spawn.hpp"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include <fmt/format.h>

#include "common/strings.hpp"

namespace nexus::agent {

namespace {

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

Result<Pipe> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return fail_errno("pipe2");
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

Result<void> set_nonblocking(int fd) {
  int fl = ::fcntl(fd, F_GETFL);
  if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return fail_errno("fcntl");
  return {};
}

// What the child reports through the error pipe before _exit.
struct ChildError {
  int step;
  int err;
};

enum Step {
  kStepStdio = 1,
  kStepSetsid,
  kStepTty,
  kStepGroups,
  kStepGid,
  kStepUid,
  kStepChdir,
  kStepExec
};

const char* step_name(int step) {
  switch (step) {
    case kStepStdio: return "setting up stdio";
    case kStepSetsid: return "setsid";
    case kStepTty: return "setting the controlling terminal";
    case kStepGroups: return "setgroups";
    case kStepGid: return "setgid";
    case kStepUid: return "setuid";
    case kStepChdir: return "changing directory";
    case kStepExec: return "executing";
  }
  return "starting";
}

[[noreturn]] void child_fail(int fd, int step) {
  ChildError e{step, errno};
  ssize_t n = ::write(fd, &e, sizeof e);
  (void)n;  // nothing else can be reported
  ::_exit(127);
}

void close_fd_range(unsigned lo, unsigned hi) {
  if (lo > hi) return;
  if (::close_range(lo, hi, 0) == 0) return;
  unsigned cap = hi < 65535U ? hi : 65535U;  // kernels without close_range
  for (unsigned fd = lo; fd <= cap; ++fd) (void)::close(static_cast<int>(fd));
}

// Close every fd except 0-2 and `keep` (which is >= 3).
void close_other_fds(int keep) {
  close_fd_range(3, static_cast<unsigned>(keep) - 1);
  close_fd_range(static_cast<unsigned>(keep) + 1, ~0U);
}

// Runs in the child after fork; never returns.
[[noreturn]] void child_main(const SpawnOptions& o, const std::string& exe, char* const* argv,
                             char* const* envp, int stdin_fd, int stdout_fd, int stderr_fd,
                             int err_fd) {
  // Signals: default dispositions, empty mask.
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    (void)::signal(sig, SIG_DFL);
  }
  sigset_t empty;
  sigemptyset(&empty);
  (void)::sigprocmask(SIG_SETMASK, &empty, nullptr);

  if (::setsid() < 0) child_fail(err_fd, kStepSetsid);

  // Move the error pipe out of the way of 0-2 first, then install stdio. dup2 clears
  // CLOEXEC on the targets.
  if (err_fd <= 2) {
    int moved = ::fcntl(err_fd, F_DUPFD_CLOEXEC, 3);
    if (moved < 0) child_fail(err_fd, kStepStdio);
    err_fd = moved;
  }
  int src[3] = {stdin_fd, stdout_fd, stderr_fd};
  for (int i = 0; i < 3; ++i) {
    if (src[i] <= 2) {
      int moved = ::fcntl(src[i], F_DUPFD_CLOEXEC, 3);
      if (moved < 0) child_fail(err_fd, kStepStdio);
      src[i] = moved;
    }
  }
  for (int i = 0; i < 3; ++i)
    if (::dup2(src[i], i) < 0) child_fail(err_fd, kStepStdio);
  close_other_fds(err_fd);
  // A new session has no controlling terminal; the pty slave on fd 0 becomes it.
  if (o.pty && ::ioctl(0, TIOCSCTTY, 0) != 0) child_fail(err_fd, kStepTty);

  if (o.change_identity) {
    if (::setgroups(o.groups.size(), o.groups.data()) != 0) child_fail(err_fd, kStepGroups);
    if (::setresgid(o.gid, o.gid, o.gid) != 0) child_fail(err_fd, kStepGid);
    if (::setresuid(o.uid, o.uid, o.uid) != 0) child_fail(err_fd, kStepUid);
  }
  if (::chdir(o.cwd.c_str()) != 0) child_fail(err_fd, kStepChdir);
  ::umask(022);
  ::execve(exe.c_str(), argv, envp);
  child_fail(err_fd, kStepExec);
}

struct Pty {
  UniqueFd master;
  UniqueFd slave;
};

// A new pseudo-terminal pair of the given size; both ends CLOEXEC, the master non-blocking.
Result<Pty> open_pty(const SpawnOptions& o) {
  UniqueFd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!master) return fail_errno("opening /dev/ptmx");
  if (::grantpt(master.get()) != 0 || ::unlockpt(master.get()) != 0)
    return fail_errno("unlocking the pty");
  char name[128];
  if (::ptsname_r(master.get(), name, sizeof name) != 0) return fail_errno("ptsname");
  UniqueFd slave(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!slave) return fail_errno(fmt::format("opening '{}'", name));
  // Like login(1): the user owns their terminal. Failure only matters to programs that
  // reopen the tty by name.
  if (o.change_identity && ::geteuid() == 0) {
    (void)::fchown(slave.get(), o.uid, o.gid);
    (void)::fchmod(slave.get(), 0620);
  }
  NEXUS_TRY(set_pty_size(master.get(), *o.pty));
  NEXUS_TRY(set_nonblocking(master.get()));
  return Pty{std::move(master), std::move(slave)};
}

}  // namespace

Result<void> set_pty_size(int fd, PtySize size) {
  struct winsize ws {};
  ws.ws_col = size.cols;
  ws.ws_row = size.rows;
  if (::ioctl(fd, TIOCSWINSZ, &ws) != 0) return fail_errno("resizing the terminal");
  return {};
}

std::string find_executable(const std::string& cmd, const std::string& path_list) {
  if (cmd.empty() || cmd.find('/') != std::string::npos) return cmd;
  for (const auto& dir : split(path_list, ':')) {
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + cmd;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  return cmd;
}

Result<SpawnedProcess> spawn_process(const SpawnOptions& o) {
  if (o.cmd.empty()) return fail(Errc::invalid_argument, "command is empty");
  std::string path_list = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const auto& kv : o.env)
    if (starts_with(kv, "PATH=")) path_list = kv.substr(5);
  std::string exe = find_executable(o.cmd, path_list);
  if (exe.find('/') == std::string::npos)
    return fail(Errc::not_found, fmt::format("executable '{}' not found in PATH", o.cmd));

  // Everything the child needs is prepared before fork.
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(o.cmd.c_str()));
  for (const auto& a : o.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : o.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  UniqueFd stdin_read, stdin_write;
  std::optional<Pty> pty;
  if (o.pty) {
    auto p = open_pty(o);
    if (!p) return fail(std::move(p).error());
    pty = std::move(*p);
  } else if (o.pipe_stdin) {
    auto p = make_pipe();
    if (!p) return fail(std::move(p).error());
    stdin_read = std::move(p->read);
    stdin_write = std::move(p->write);
  } else {
    stdin_read = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!stdin_read) return fail_errno("opening /dev/null");
  }
  auto out = make_pipe();
  if (!out) return fail(std::move(out).error());
  auto err = make_pipe();
  if (!err) return fail(std::move(err).error());
  auto status = make_pipe();
  if (!status) return fail(std::move(status).error());

  pid_t pid = ::fork();
  if (pid < 0) return fail_errno("fork");
  if (pid == 0) {
    if (pty) {
      int tty = pty->slave.get();
      child_main(o, exe, argv.data(), envp.data(), tty, tty, tty, status->write.get());
    }
    child_main(o, exe, argv.data(), envp.data(), stdin_read.get(), out->write.get(),
               err->write.get(), status->write.get());
  }

  status->write.reset();
  if (pty) pty->slave.reset();  // the master sees EIO once every slave holder is gone
  stdin_read.reset();
  out->write.reset();
  err->write.reset();

  ChildError ce{};
  size_t got = 0;
  while (got < sizeof ce) {
    ssize_t n = ::read(status->read.get(), reinterpret_cast<char*>(&ce) + got, sizeof ce - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  if (got == sizeof ce) {
    // The child failed before exec and exits with 127; the reaper collects it.
    if (ce.step == kStepExec && (ce.err == ENOENT || ce.err == ENOTDIR))
      return fail(Errc::not_found, fmt::format("executable '{}' not found", o.cmd));
    return fail_errno(ce.err, fmt::format("{} for '{}'", step_name(ce.step), o.cmd));
  }

  SpawnedProcess sp;
  sp.pid = pid;
  if (pty) {
    sp.pty_master = std::move(pty->master);
    return sp;
  }
  sp.stdin_fd = std::move(stdin_write);
  sp.stdout_fd = std::move(out->read);
  sp.stderr_fd = std::move(err->read);
  for (int fd : {sp.stdin_fd.get(), sp.stdout_fd.get(), sp.stderr_fd.get()})
    if (fd >= 0)
      if (auto r = set_nonblocking(fd); !r) return fail(std::move(r).error());
  return sp;
}

}  // namespace nexus::agent
