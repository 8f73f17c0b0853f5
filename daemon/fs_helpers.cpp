// SPDX-License-Identifier: Apache-2.0
// File-system helpers.
#include "daemon/fs_helpers.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include <filesystem>

#include <fmt/format.h>

namespace nexus::daemon {

Result<void> mkdir_p(const std::string& path, mode_t mode) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return fail(Error(ec, fmt::format("creating '{}': {}", path, ec.message())));
  if (::chmod(path.c_str(), mode) != 0) return fail_errno(fmt::format("chmod '{}'", path));
  return {};
}

Result<UniqueFd> listen_agent_socket(const std::string& path, int backlog) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) return fail(Errc::invalid_argument, fmt::format("socket path '{}' too long", path));
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fail_errno("socket");
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  (void)::unlink(path.c_str());  // a stale socket
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return fail_errno(fmt::format("binding '{}'", path));
  if (::chmod(path.c_str(), 0600) != 0) return fail_errno(fmt::format("chmod '{}'", path));
  if (::listen(fd.get(), backlog) != 0) return fail_errno(fmt::format("listening on '{}'", path));
  return fd;
}

}  // namespace nexus::daemon
