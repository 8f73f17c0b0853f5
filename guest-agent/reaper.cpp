// SPDX-License-Identifier: Apache-2.0
// SIGCHLD-driven reaping.
#include "guest-agent/reaper.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <cerrno>

namespace nexus::agent {

Reaper::Reaper(uv::Loop& loop, std::function<void(pid_t, int)> on_status)
    : signal_(loop), on_status_(std::move(on_status)) {}

void Reaper::start() {
  signal_.start(SIGCHLD, [this](int) { reap(); });
  reap();
}

void Reaper::reap() {
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid < 0 && errno == EINTR) continue;
    if (pid <= 0) return;  // 0: children left but none exited; -1/ECHILD: no children
    if (WIFEXITED(status) || WIFSIGNALED(status)) on_status_(pid, status);
  }
}

}  // namespace nexus::agent
