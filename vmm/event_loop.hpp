// SPDX-License-Identifier: Apache-2.0
// EventLoop: the VMM's device thread, an epoll loop over queue ioeventfds, backend sockets
// and the control socket.
//
// Every callback runs with the VMM's device lock held; vCPU threads take the same lock for
// MMIO/PIO register accesses. That one lock is the whole concurrency model of the devices.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace nexus::vmm {

class EventLoop {
 public:
  using Callback = std::function<void(uint32_t events)>;

  static Result<std::unique_ptr<EventLoop>> create();
  ~EventLoop();

  /// Watch fd for `events` (EPOLLIN, EPOLLOUT, ...). One registration per fd.
  Result<void> add(int fd, uint32_t events, Callback cb);
  Result<void> modify(int fd, uint32_t events);
  /// Stop watching fd. Safe from inside any callback, including fd's own.
  void remove(int fd);
  bool watching(int fd) const { return handlers_.count(fd) != 0; }

  /// Dispatch until stop(); each callback runs with `lock` held.
  Result<void> run(std::mutex& lock);
  /// Wait up to timeout_ms (-1: no limit) for one batch of events and dispatch it with `lock`
  /// held. False when the wait timed out; a pending stop() is consumed (and gives true). For
  /// tests that drive the loop step by step.
  Result<bool> run_once(std::mutex& lock, int timeout_ms);
  /// Make run() return. Thread-safe and async-signal-safe.
  void stop() noexcept;

 private:
  EventLoop() = default;
  /// Run the callbacks of a batch; true if the batch held the stop() wake-up.
  bool dispatch(const epoll_event* events, int n);
  UniqueFd epoll_;
  UniqueFd wake_;
  std::map<int, std::shared_ptr<Callback>> handlers_;
};

}  // namespace nexus::vmm
