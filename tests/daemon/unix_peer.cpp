// SPDX-License-Identifier: Apache-2.0
// Test helpers: Unix socket peer thread and loop running.
#include "unix_peer.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "common/strings.hpp"

namespace nexus::daemon_test {

UnixPeer::UnixPeer(std::function<void(int, int)> handler) : handler_(std::move(handler)) {
  path_ = fmt::format("/tmp/nexus-daemon-test-{}-{}.sock", ::getpid(), random_hex(4));
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path_.c_str(), path_.size());
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 16) != 0)
    throw std::runtime_error("cannot listen on " + path_);
  thread_ = std::thread([this] { serve(); });
}

UnixPeer::~UnixPeer() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
  ::unlink(path_.c_str());
}

void UnixPeer::serve() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int index = accepted_++;
    handler_(fd, index);
    ::close(fd);
  }
}

std::string read_line(int fd) {
  std::string line;
  char c;
  while (::read(fd, &c, 1) == 1) {
    if (c == '\n') return line;
    line += c;
  }
  return line;
}

std::string read_until(int fd, std::string_view needle) {
  std::string got;
  char c;
  while (got.find(needle) == std::string::npos && ::read(fd, &c, 1) == 1) got += c;
  return got;
}

void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

bool run_until(uv::Loop& loop, const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    loop.run_nowait();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace nexus::daemon_test
