// SPDX-License-Identifier: Apache-2.0
// run_bounded(): run a helper program to completion with a deadline, capturing its output
// (the host probe `nexus-vmm --probe --json`, `build-guest-kernel --print-path`), for nexusd
// and for nexus doctor without nexusd.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace nexus {

struct RunOutput {
  int exit_code = -1;      ///< the exit status; -1 when killed by a signal
  int signal = 0;          ///< the signal that ended it, 0 if it exited
  bool timed_out = false;  ///< killed (SIGKILL, whole process group) at the deadline
  std::string out;         ///< stdout, at most max_output bytes
  std::string err;         ///< stderr, at most max_output bytes
  int64_t duration_ms = 0;
};

/// Run `argv` (argv[0] is a path, not searched in $PATH) with stdin from /dev/null, in its
/// own process group. Past `timeout_ms` the group is killed and reaped. Output beyond
/// `max_output` bytes per stream is read and dropped. Fails only when the program could not
/// be started (e.g. "running '/x/nexus-vmm': No such file or directory").
Result<RunOutput> run_bounded(const std::vector<std::string>& argv, uint64_t timeout_ms,
                              size_t max_output = 64 * 1024);

}  // namespace nexus
