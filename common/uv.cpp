// SPDX-License-Identifier: Apache-2.0
// libuv wrappers. Each wrapper owns a heap State holding the handle and the callback;
// the State is freed in uv_close's callback, after libuv is done with the handle.
#include "common/uv.hpp"

namespace nexus::uv {

Loop::Loop() { NEXUS_CHECK(uv_loop_init(&loop_) == 0); }

Loop::~Loop() {
  // Let pending close callbacks run so handle memory is released.
  uv_run(&loop_, UV_RUN_NOWAIT);
  if (uv_loop_close(&loop_) == UV_EBUSY) {
    uv_walk(&loop_, [](uv_handle_t* h, void*) {
      if (!uv_is_closing(h)) uv_close(h, nullptr);
    }, nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    (void)uv_loop_close(&loop_);  // nothing more can be done at teardown
  }
}

void Loop::run() { uv_run(&loop_, UV_RUN_DEFAULT); }
void Loop::run_nowait() { uv_run(&loop_, UV_RUN_NOWAIT); }
void Loop::stop() { uv_stop(&loop_); }

template <class State>
static void close_state(State* s) {
  s->cb = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&s->handle),
           [](uv_handle_t* h) { delete static_cast<State*>(h->data); });
}

// ---- Timer
struct Timer::State {
  uv_timer_t handle{};
  std::function<void()> cb;
};

Timer::Timer(Loop& loop) : state_(new State) {
  uv_timer_init(loop.get(), &state_->handle);
  state_->handle.data = state_;
}
Timer::~Timer() { close_state(state_); }

void Timer::start(uint64_t timeout_ms, uint64_t repeat_ms, std::function<void()> cb) {
  state_->cb = std::move(cb);
  uv_timer_start(&state_->handle, [](uv_timer_t* h) {
    auto* s = static_cast<State*>(h->data);
    if (s->cb) {
      auto cb_copy = s->cb;  // the callback may restart or destroy the timer
      cb_copy();
    }
  }, timeout_ms, repeat_ms);
}
void Timer::stop() { uv_timer_stop(&state_->handle); }
void Timer::unref() { uv_unref(reinterpret_cast<uv_handle_t*>(&state_->handle)); }

// ---- Signal
struct Signal::State {
  uv_signal_t handle{};
  std::function<void(int)> cb;
};

Signal::Signal(Loop& loop) : state_(new State) {
  uv_signal_init(loop.get(), &state_->handle);
  state_->handle.data = state_;
}
Signal::~Signal() { close_state(state_); }
void Signal::start(int signum, std::function<void(int)> cb) {
  state_->cb = std::move(cb);
  uv_signal_start(&state_->handle, [](uv_signal_t* h, int sig) {
    auto* s = static_cast<State*>(h->data);
    if (s->cb) {
      auto cb_copy = s->cb;  // the callback may destroy this handle
      cb_copy(sig);
    }
  }, signum);
}
void Signal::stop() { uv_signal_stop(&state_->handle); }
void Signal::unref() { uv_unref(reinterpret_cast<uv_handle_t*>(&state_->handle)); }

// ---- Async
struct Async::State {
  uv_async_t handle{};
  std::function<void()> cb;
};

Async::Async(Loop& loop, std::function<void()> cb) : state_(new State) {
  state_->cb = std::move(cb);
  uv_async_init(loop.get(), &state_->handle, [](uv_async_t* h) {
    auto* s = static_cast<State*>(h->data);
    if (s->cb) {
      auto cb_copy = s->cb;  // the callback may destroy this handle
      cb_copy();
    }
  });
  state_->handle.data = state_;
}
Async::~Async() { close_state(state_); }
void Async::send() { uv_async_send(&state_->handle); }
void Async::unref() { uv_unref(reinterpret_cast<uv_handle_t*>(&state_->handle)); }

// ---- Poll
struct Poll::State {
  uv_poll_t handle{};
  std::function<void(int, int)> cb;
};

Poll::Poll(Loop& loop, int fd) : state_(new State) {
  NEXUS_CHECK(uv_poll_init(loop.get(), &state_->handle, fd) == 0);
  state_->handle.data = state_;
}
Poll::~Poll() { close_state(state_); }
void Poll::start(int events, std::function<void(int, int)> cb) {
  state_->cb = std::move(cb);
  uv_poll_start(&state_->handle, events, [](uv_poll_t* h, int status, int ev) {
    auto* s = static_cast<State*>(h->data);
    if (s->cb) {
      auto cb_copy = s->cb;
      cb_copy(status, ev);
    }
  });
}
void Poll::stop() { uv_poll_stop(&state_->handle); }

}  // namespace nexus::uv
