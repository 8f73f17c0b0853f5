// SPDX-License-Identifier: Apache-2.0
// Host-side process facts from /proc/PID/stat: state, parent, start time.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "common/result.hpp"

namespace nexus::jail::detail {

struct ProcStat {
  char state = '?';         ///< field 3: R, S, D, Z, ...
  pid_t ppid = 0;           ///< field 4
  uint64_t start_time = 0;  ///< field 22, clock ticks since boot
};

/// Read /proc/PID/stat; Errc::not_found when the process is gone.
Result<ProcStat> read_proc_stat(pid_t pid);

}  // namespace nexus::jail::detail
