// SPDX-License-Identifier: Apache-2.0
// systemd's side of nexusd: sockets handed over by socket activation (sd_listen_fds), sorted by
// purpose, and readiness notification (sd_notify's protocol).
#pragma once

#include <string>
#include <string_view>

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

/// Tells the service manager how start-up and shutdown go (Type=notify): "READY=1",
/// "STOPPING=1", "STATUS=...", "EXTEND_TIMEOUT_USEC=..." (sd_notify(3)).
///
/// It takes NOTIFY_SOCKET out of the environment when it is made, so that no helper or
/// sandbox nexusd starts can speak for nexusd; libsystemd's sd_notify() reads the variable at
/// each call, which is why the datagram is sent here (the protocol is a stable interface:
/// systemd's docs/PORTABILITY_AND_STABILITY). Without NOTIFY_SOCKET, notify() does nothing.
/// Call from the main thread.
class ServiceNotifier {
 public:
  /// Reads and unsets NOTIFY_SOCKET (a path, or "@name" for an abstract socket).
  static ServiceNotifier from_environment();

  bool enabled() const { return !address_.empty(); }
  /// Send one notification ("KEY=VALUE" lines). Errors are returned for the caller to log;
  /// nexusd keeps running without a service manager that listens.
  [[nodiscard]] Result<void> notify(std::string_view state) const;

 private:
  std::string address_;
};

}  // namespace nexus::daemon
