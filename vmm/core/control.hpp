// SPDX-License-Identifier: Apache-2.0
// The control socket: line-delimited JSON requests from nexusd (docs/vmm.md), served on the
// event loop. A request's reply may come later (pause waits for every vCPU to stop).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/json.hpp"
#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "vmm/event_loop.hpp"

namespace nexus::vmm {

class ControlServer {
 public:
  using Reply = std::function<void(const Json&)>;
  using Handler = std::function<void(const Json& request, Reply reply)>;

  /// Bind `path` (replacing a stale socket), mode 0600.
  static Result<UniqueFd> bind(const std::string& path);

  ControlServer(EventLoop& loop, UniqueFd listener, Handler handler);
  ~ControlServer();
  Result<void> start();

 private:
  struct Conn {
    UniqueFd fd;
    std::string in;
  };
  void accept_one();
  void on_readable(int fd);
  void close_conn(int fd);

  EventLoop& loop_;
  UniqueFd listener_;
  Handler handler_;
  std::map<int, std::shared_ptr<Conn>> conns_;
};

}  // namespace nexus::vmm
