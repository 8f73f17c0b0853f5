// SPDX-License-Identifier: Apache-2.0
// Test helpers: a Unix socket peer on its own thread (written with plain sockets, so it
// shares no code with the client under test), and running a loop until something happened.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <thread>

#include "common/uv.hpp"

namespace nexus::daemon_test {

/// Accepts connections on a fresh socket path one at a time and hands each to `handler(fd,
/// index)`, which speaks for the peer; the connection is closed when it returns.
class UnixPeer {
 public:
  explicit UnixPeer(std::function<void(int fd, int index)> handler);
  ~UnixPeer();
  UnixPeer(const UnixPeer&) = delete;
  UnixPeer& operator=(const UnixPeer&) = delete;

  const std::string& path() const { return path_; }
  int connections() const { return accepted_.load(); }

 private:
  void serve();

  std::string path_;
  std::function<void(int, int)> handler_;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

/// Bytes up to and without the next '\n'; what was read when the peer closes first.
std::string read_line(int fd);
/// Bytes until `needle` was read (included); everything read when the peer closes first.
std::string read_until(int fd, std::string_view needle);
void write_all(int fd, std::string_view data);

/// Run `loop` until `done()`; false after `timeout`.
bool run_until(uv::Loop& loop, const std::function<bool()>& done,
               std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace nexus::daemon_test
