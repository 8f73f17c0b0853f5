// SPDX-License-Identifier: Apache-2.0
// systemd socket activation and readiness notification.
#include "daemon/listen_fds.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <cstring>
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

namespace nexus::daemon {

ServiceNotifier ServiceNotifier::from_environment() {
  ServiceNotifier n;
  if (const char* v = std::getenv("NOTIFY_SOCKET"); v && *v) n.address_ = v;
  ::unsetenv("NOTIFY_SOCKET");
  return n;
}

Result<void> ServiceNotifier::notify(std::string_view state) const {
  if (address_.empty()) return {};
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (address_.size() >= sizeof(sa.sun_path) || (address_[0] != '/' && address_[0] != '@'))
    return fail(Errc::invalid_argument, fmt::format("NOTIFY_SOCKET '{}' is not a socket path", address_));
  std::memcpy(sa.sun_path, address_.data(), address_.size());
  if (sa.sun_path[0] == '@') sa.sun_path[0] = '\0';  // abstract namespace
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return fail_errno("creating the notification socket");
  // SAFETY: sockaddr_un is a sockaddr for AF_UNIX; len covers the path (unterminated when
  // abstract, as the protocol wants).
  if (::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&sa), len) < 0)
    return fail_errno(fmt::format("notifying the service manager on '{}'", address_));
  return {};
}

}  // namespace nexus::daemon
