// SPDX-License-Identifier: Apache-2.0
// ProgressFn: how long-running rootfs work reports log lines to its caller.
#pragma once

#include <functional>
#include <string_view>

namespace nexus::rootfs {

/// Called with one log line at a time (no trailing newline), on the calling thread.
/// May be empty.
using ProgressFn = std::function<void(std::string_view line)>;

inline void report(const ProgressFn& fn, std::string_view line) {
  if (fn) fn(line);
}

}  // namespace nexus::rootfs
