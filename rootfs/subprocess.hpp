// SPDX-License-Identifier: Apache-2.0
// Running a helper program with its output forwarded line by line.
#pragma once

#include <string>
#include <vector>

#include "common/result.hpp"
#include "rootfs/progress.hpp"

namespace nexus::rootfs {

/// Runs argv[0] (searched in PATH) with stdin from /dev/null and stdout and stderr
/// merged into one pipe whose lines go to `on_line`. Blocks until the child exits.
/// A non-zero exit or a signal is an error naming the status and the last output lines.
/// `extra_env` ("NAME=value") is added to (or overrides) the caller's environment.
Result<void> run_command(const std::vector<std::string>& argv, const ProgressFn& on_line,
                         const std::vector<std::string>& extra_env = {});

}  // namespace nexus::rootfs
