// SPDX-License-Identifier: Apache-2.0
// Reaping every child (the agent is PID 1 or a child subreaper) on SIGCHLD.
#pragma once

#include <sys/types.h>

#include <functional>

#include "common/uv.hpp"

namespace nexus::agent {

class Reaper {
 public:
  /// `on_status(pid, wait_status)` for every reaped child, ours or orphans.
  Reaper(uv::Loop& loop, std::function<void(pid_t, int)> on_status);
  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;
  /// Watch SIGCHLD and reap what is already waiting.
  void start();
  /// waitpid(-1, WNOHANG) until nothing is left.
  void reap();

 private:
  uv::Signal signal_;
  std::function<void(pid_t, int)> on_status_;
};

}  // namespace nexus::agent
