// SPDX-License-Identifier: Apache-2.0
#include "vmm/unix_socket.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace nexus::vmm {

Result<sockaddr_un> unix_address(const std::string& path, const std::string& what) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path)
    return fail(Errc::invalid_argument, what + ": Unix socket path empty or too long: '" + path + "'");
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

Result<UniqueFd> listen_unix(const std::string& path, int backlog, const std::string& what) {
  auto addr = unix_address(path, what);
  if (!addr) return fail(std::move(addr).error());
  struct stat st{};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return fail(Errc::already_exists, what + ": '" + path + "' exists and is not a socket");
    if (::unlink(path.c_str()) != 0) return fail_errno(what + ": removing the stale socket '" + path + "'");
  } else if (errno != ENOENT) {
    return fail_errno(what + ": '" + path + "'");
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return fail_errno(what + ": socket");
  // The file is created by bind(); the umask makes it 0600 from the start (no chmod race).
  mode_t old = ::umask(0177);
  int r = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr);
  ::umask(old);
  if (r != 0) return fail_errno(what + ": binding '" + path + "'");
  if (::listen(fd.get(), backlog) != 0) return fail_errno(what + ": listen on '" + path + "'");
  return fd;
}

}  // namespace nexus::vmm
