// SPDX-License-Identifier: Apache-2.0
// Thin RAII wrappers over libuv handles.
//
// Thread affinity: every object here belongs to the thread running its Loop, except
// Async::send(), which any thread may call. Callbacks are invoked on the loop thread and
// must not throw. Destroying a wrapper stops it at once (no callback fires after the
// destructor returns); the libuv memory is released by the loop later, in uv_close's
// callback.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include <uv.h>

#include "common/result.hpp"

namespace nexus::uv {

/// Owns a uv_loop_t. Closing waits for all handles to finish closing.
class Loop {
 public:
  Loop();
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  uv_loop_t* get() noexcept { return &loop_; }
  /// Run until there is nothing left to do or stop() is called.
  void run();
  /// Run one non-blocking iteration.
  void run_nowait();
  void stop();
  uint64_t now_ms() { return uv_now(&loop_); }

 private:
  uv_loop_t loop_{};
};

/// A one-shot or repeating timer.
class Timer {
 public:
  explicit Timer(Loop& loop);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  /// Fire `cb` after `timeout_ms`, then every `repeat_ms` if non-zero. Restarts if running.
  void start(uint64_t timeout_ms, uint64_t repeat_ms, std::function<void()> cb);
  void stop();
  /// Do not keep the loop alive for this timer.
  void unref();

 private:
  struct State;
  State* state_;
};

/// A signal watcher (libuv turns the signal into a loop callback).
class Signal {
 public:
  explicit Signal(Loop& loop);
  ~Signal();
  Signal(const Signal&) = delete;
  Signal& operator=(const Signal&) = delete;
  void start(int signum, std::function<void(int)> cb);
  void stop();
  void unref();

 private:
  struct State;
  State* state_;
};

/// Wakes the loop from another thread. send() is thread-safe; calls may coalesce.
class Async {
 public:
  Async(Loop& loop, std::function<void()> cb);
  ~Async();
  Async(const Async&) = delete;
  Async& operator=(const Async&) = delete;
  void send();
  void unref();

 private:
  struct State;
  State* state_;
};

/// Watches a file descriptor for readability/writability. Does not own the fd.
class Poll {
 public:
  Poll(Loop& loop, int fd);
  ~Poll();
  Poll(const Poll&) = delete;
  Poll& operator=(const Poll&) = delete;
  /// `events` is a mask of UV_READABLE/UV_WRITABLE/UV_DISCONNECT; cb(status, events).
  void start(int events, std::function<void(int status, int events)> cb);
  void stop();

 private:
  struct State;
  State* state_;
};

}  // namespace nexus::uv
