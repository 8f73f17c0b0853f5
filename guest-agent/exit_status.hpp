// SPDX-License-Identifier: Apache-2.0
// Describing a wait status the way envd (Go's os.ProcessState) does.
#pragma once

#include <string>
#include <string_view>

#include "common/json.hpp"

namespace nexus::agent {

struct ExitInfo {
  int exit_code = 0;   ///< the exit code, or -1 when killed by a signal
  bool exited = true;  ///< exited normally (false: signalled)
  std::string status;  ///< "exit status 3", "signal: killed"
  std::string error;   ///< empty for exit status 0, else the same as `status`
};

/// Go's name of a signal ("killed", "terminated", ...); "signal N" when unknown.
std::string go_signal_name(int sig);
/// From a waitpid(2) status.
ExitInfo describe_wait_status(int wait_status);
/// The `end` object of a ProcessEvent: {"exitCode":..,"exited":..,"status":..[,"error":..]}.
Json exit_info_json(const ExitInfo& info);

}  // namespace nexus::agent
