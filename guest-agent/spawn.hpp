// SPDX-License-Identifier: Apache-2.0
// fork/exec of sandbox commands as a given user, with pipes for stdio.
//
// The agent reaps children itself (it is PID 1), so it must not use uv_spawn: libuv's own
// waitpid() would race with the reaper.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace nexus::agent {

/// A terminal size in character cells.
struct PtySize {
  uint16_t cols = 80;
  uint16_t rows = 24;
};

struct SpawnOptions {
  std::string cmd;                ///< a path, or a name looked up in the PATH of `env`
  std::vector<std::string> args;  ///< arguments after argv[0] (argv[0] = cmd)
  std::vector<std::string> env;   ///< "KEY=value"
  std::string cwd;
  bool pipe_stdin = true;         ///< false: stdin is /dev/null
  /// Run on a new pseudo-terminal: the slave is the controlling tty and stdin, stdout and
  /// stderr (pipe_stdin is ignored).
  std::optional<PtySize> pty;
  bool change_identity = true;    ///< false: keep the agent's uid/gid/groups
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};

struct SpawnedProcess {
  pid_t pid = -1;
  UniqueFd stdin_fd;   ///< write end (invalid when !pipe_stdin); non-blocking, CLOEXEC
  UniqueFd stdout_fd;  ///< read end; non-blocking, CLOEXEC
  UniqueFd stderr_fd;  ///< read end; non-blocking, CLOEXEC
  UniqueFd pty_master; ///< with SpawnOptions::pty: the master (the three above are invalid)
};

/// Start a process in its own session (setsid). The child is not reaped here; an exec
/// failure is returned as an error (the failed child is left for the reaper).
Result<SpawnedProcess> spawn_process(const SpawnOptions& options);

/// Set the window size of a terminal (master or slave fd).
Result<void> set_pty_size(int fd, PtySize size);

/// Find `cmd` in the colon-separated `path_list` (returns `cmd` if it contains '/').
std::string find_executable(const std::string& cmd, const std::string& path_list);

}  // namespace nexus::agent
