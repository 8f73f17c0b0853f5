// SPDX-License-Identifier: Apache-2.0
// Small file-system helpers shared by the sandbox manager and its backends.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace nexus::daemon {

/// create_directories, then chmod to `mode`.
Result<void> mkdir_p(const std::string& path, mode_t mode);

/// A listening Unix socket for a sandbox agent at `path` (mode 0600, close-on-exec). nexusd
/// owns the path; the agent inherits the listening fd, so it never sees a host path. A stale
/// socket of an earlier life of the same id or build is replaced.
Result<UniqueFd> listen_agent_socket(const std::string& path, int backlog);

}  // namespace nexus::daemon
