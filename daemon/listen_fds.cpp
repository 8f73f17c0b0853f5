// SPDX-License-Identifier: Apache-2.0
// systemd socket activation.
#include "daemon/listen_fds.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <string>

#include <fmt/format.h>

namespace nexus::daemon {

Result<ActivatedSockets> take_activated_sockets() {
  char** names = nullptr;
  int n = sd_listen_fds_with_names(1, &names);
  if (n < 0) return fail_errno(-n, "reading the sockets passed by systemd (LISTEN_FDS)");
  ActivatedSockets out;
  Result<ActivatedSockets> result = {};
  for (int i = 0; i < n; ++i) {
    int fd = SD_LISTEN_FDS_START + i;
    std::string name = names && names[i] ? names[i] : "";
    UniqueFd owned(fd);
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);  // never inherited by sandboxes
    bool is_unix = sd_is_socket(fd, AF_UNIX, SOCK_STREAM, 1) > 0;
    bool is_tcp = sd_is_socket_inet(fd, 0, SOCK_STREAM, 1, 0) > 0;
    UniqueFd* slot = nullptr;
    if (name == "e2b" || ((name.empty() || name == "unknown") && is_tcp)) slot = &out.e2b;
    else if (name == "nexus" || name == "api" || ((name.empty() || name == "unknown") && is_unix)) slot = &out.api;
    if (!slot || (!is_unix && !is_tcp)) {
      if (result) result = fail(Errc::invalid_argument,
                                fmt::format("socket-activation fd {} ('{}') is not a listening stream socket nexusd serves "
                                            "(use FileDescriptorName=nexus or e2b)", fd, name));
      continue;
    }
    if (*slot) {
      if (result) result = fail(Errc::invalid_argument, fmt::format("two activated sockets for '{}'", name));
      continue;
    }
    *slot = std::move(owned);
  }
  if (names) {
    for (int i = 0; i < n; ++i) free(names[i]);
    free(names);
  }
  if (!result) return result;
  return out;
}

}  // namespace nexus::daemon
