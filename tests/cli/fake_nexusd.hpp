// SPDX-License-Identifier: Apache-2.0
// A stand-in for nexusd in CLI tests: a thread serving canned HTTP answers on a Unix socket,
// written with plain sockets so it does not share code with the client under test.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace nexus::cli::test {

struct SeenRequest {
  std::string method;
  std::string target;
  std::string body;
};

/// What to send back: raw bytes, written piece by piece with a short pause in between
/// (to exercise streaming), then the connection is closed.
using Reply = std::vector<std::string>;

class FakeNexusd {
 public:
  using Handler = std::function<Reply(const SeenRequest&)>;
  FakeNexusd(std::string socket_path, Handler handler);
  ~FakeNexusd();
  FakeNexusd(const FakeNexusd&) = delete;
  FakeNexusd& operator=(const FakeNexusd&) = delete;

  const std::string& path() const { return path_; }
  std::vector<SeenRequest> requests();

  /// A complete JSON answer with Content-Length.
  static Reply json(int status, const std::string& body);
  /// A chunked answer, one chunk per piece.
  static Reply chunked(int status, const std::vector<std::string>& pieces);

 private:
  void serve();
  void handle(int fd);

  std::string path_;
  Handler handler_;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<SeenRequest> seen_;
  std::thread thread_;
};

}  // namespace nexus::cli::test
