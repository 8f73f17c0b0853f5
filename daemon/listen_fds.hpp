// SPDX-License-Identifier: Apache-2.0
// Sockets handed over by systemd socket activation (sd_listen_fds), sorted by purpose.
#pragma once

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace nexus::daemon {

struct ActivatedSockets {
  UniqueFd api;  ///< FileDescriptorName=nexus (or an unnamed Unix socket): the native API
  UniqueFd e2b;  ///< FileDescriptorName=e2b (or an unnamed TCP socket): the E2B endpoint
};

/// Take the activated sockets (none when not socket-activated) and unset LISTEN_* so that
/// children do not see them. An unexpected extra socket is an error naming it.
Result<ActivatedSockets> take_activated_sockets();

}  // namespace nexus::daemon
