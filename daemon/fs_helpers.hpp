// SPDX-License-Identifier: Apache-2.0
// Small file-system helpers shared by the sandbox manager and its backends.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/result.hpp"

namespace nexus::daemon {

/// create_directories, then chmod to `mode`.
Result<void> mkdir_p(const std::string& path, mode_t mode);

}  // namespace nexus::daemon
