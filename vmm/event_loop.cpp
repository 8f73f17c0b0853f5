// SPDX-License-Identifier: Apache-2.0
#include "vmm/event_loop.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

namespace nexus::vmm {

Result<std::unique_ptr<EventLoop>> EventLoop::create() {
  std::unique_ptr<EventLoop> loop(new EventLoop());
  loop->epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!loop->epoll_) return fail_errno("epoll_create1");
  loop->wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!loop->wake_) return fail_errno("eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = loop->wake_.get();
  if (::epoll_ctl(loop->epoll_.get(), EPOLL_CTL_ADD, loop->wake_.get(), &ev) != 0)
    return fail_errno("epoll_ctl(wake)");
  return loop;
}

EventLoop::~EventLoop() = default;

Result<void> EventLoop::add(int fd, uint32_t events, Callback cb) {
  if (handlers_.count(fd)) return fail(Errc::already_exists, "fd already watched");
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) return fail_errno("epoll_ctl(add)");
  handlers_[fd] = std::make_shared<Callback>(std::move(cb));
  return {};
}

Result<void> EventLoop::modify(int fd, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) != 0) return fail_errno("epoll_ctl(mod)");
  return {};
}

void EventLoop::remove(int fd) {
  if (handlers_.erase(fd) == 0) return;
  (void)::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);  // fd may be closed already
}

Result<void> EventLoop::run(std::mutex& lock) {
  constexpr int kBatch = 32;
  epoll_event events[kBatch];
  for (;;) {
    int n = ::epoll_wait(epoll_.get(), events, kBatch, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno("epoll_wait");
    }
    std::lock_guard guard(lock);
    if (dispatch(events, n)) return {};
  }
}

Result<bool> EventLoop::run_once(std::mutex& lock, int timeout_ms) {
  constexpr int kBatch = 32;
  epoll_event events[kBatch];
  int n;
  do {
    n = ::epoll_wait(epoll_.get(), events, kBatch, timeout_ms);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return fail_errno("epoll_wait");
  if (n == 0) return false;
  std::lock_guard guard(lock);
  (void)dispatch(events, n);
  return true;
}

bool EventLoop::dispatch(const epoll_event* events, int n) {
  for (int i = 0; i < n; ++i) {
    int fd = events[i].data.fd;
    if (fd == wake_.get()) {
      uint64_t v;
      (void)!::read(wake_.get(), &v, sizeof v);
      return true;
    }
    auto it = handlers_.find(fd);
    if (it == handlers_.end()) continue;  // removed by an earlier callback of this batch
    auto cb = it->second;                 // keep alive if the callback removes itself
    (*cb)(events[i].events);
  }
  return false;
}

void EventLoop::stop() noexcept {
  uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
}

}  // namespace nexus::vmm
