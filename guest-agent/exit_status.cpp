// SPDX-License-Identifier: Apache-2.0
// Wait status formatting with Go's signal names.
#include "guest-agent/exit_status.hpp"

#include <sys/wait.h>

#include <array>

#include <fmt/format.h>

namespace nexus::agent {

std::string go_signal_name(int sig) {
  // Go's syscall signal table for linux/amd64, in signal number order.
  static constexpr std::array<std::string_view, 32> kNames = {
      "",
      "hangup",
      "interrupt",
      "quit",
      "illegal instruction",
      "trace/breakpoint trap",
      "aborted",
      "bus error",
      "floating point exception",
      "killed",
      "user defined signal 1",
      "segmentation fault",
      "user defined signal 2",
      "broken pipe",
      "alarm clock",
      "terminated",
      "stack fault",
      "child exited",
      "continued",
      "stopped (signal)",
      "stopped",
      "stopped (tty input)",
      "stopped (tty output)",
      "urgent I/O condition",
      "CPU time limit exceeded",
      "file size limit exceeded",
      "virtual timer expired",
      "profiling timer expired",
      "window changed",
      "I/O possible",
      "power failure",
      "bad system call",
  };
  if (sig > 0 && static_cast<size_t>(sig) < kNames.size()) return std::string(kNames[sig]);
  return fmt::format("signal {}", sig);
}

ExitInfo describe_wait_status(int wait_status) {
  ExitInfo info;
  if (WIFEXITED(wait_status)) {
    info.exit_code = WEXITSTATUS(wait_status);
    info.exited = true;
    info.status = fmt::format("exit status {}", info.exit_code);
  } else if (WIFSIGNALED(wait_status)) {
    info.exit_code = -1;
    info.exited = false;
    info.status = "signal: " + go_signal_name(WTERMSIG(wait_status));
    if (WCOREDUMP(wait_status)) info.status += " (core dumped)";
  } else {
    info.exit_code = -1;
    info.exited = false;
    info.status = fmt::format("wait status {}", wait_status);
  }
  if (info.exit_code != 0) info.error = info.status;
  return info;
}

Json exit_info_json(const ExitInfo& info) {
  Json j = {{"exitCode", info.exit_code}, {"exited", info.exited}, {"status", info.status}};
  if (!info.error.empty()) j["error"] = info.error;
  return j;
}

}  // namespace nexus::agent
