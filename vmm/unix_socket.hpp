// SPDX-License-Identifier: Apache-2.0
// Unix sockets of the monitor's host side (control socket, hybrid vsock): addresses and listeners.
#pragma once

#include <sys/un.h>

#include <string>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace nexus::vmm {

/// The address of `path`; an error (invalid_argument) when it is empty or too long for
/// sun_path. `what` names the socket in errors ("control socket", "vsock").
Result<sockaddr_un> unix_address(const std::string& path, const std::string& what);

/// Binds and listens on `path` (non-blocking, close-on-exec, mode 0600: only the monitor's
/// own uid, and root, may connect). A stale socket at `path` is replaced; any other kind
/// of file there is an error (already_exists), never removed. `what` names the socket in
/// errors.
Result<UniqueFd> listen_unix(const std::string& path, int backlog, const std::string& what);

}  // namespace nexus::vmm
