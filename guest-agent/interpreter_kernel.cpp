// SPDX-License-Identifier: Apache-2.0
// Kernel process plumbing.
#include "guest-agent/interpreter_kernel.hpp"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "common/log.hpp"
#include "guest-agent/process_tree.hpp"
#include "guest-agent/spawn.hpp"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

namespace nexus::agent {

namespace {

constexpr uint64_t kLivenessPollMs = 250;

bool process_alive(pid_t pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

}  // namespace

Kernel::Kernel(uv::Loop& loop, pid_t pid) : loop_(loop), pid_(pid) {}

Kernel::~Kernel() {
  // Poll handles stop before their fds close.
  fifo_poll_.reset();
  out_.poll.reset();
  err_.poll.reset();
  stdin_poll_.reset();
  pidfd_poll_.reset();
  liveness_timer_.reset();
  if (!exited_) signal_process_tree(pid_, SIGKILL);
}

Result<std::shared_ptr<Kernel>> Kernel::start(uv::Loop& loop, const KernelOptions& o,
                                              KernelListener* listener) {
  std::optional<EventFifo::Owner> owner;
  if (o.change_identity) owner = EventFifo::Owner{o.uid, o.gid};
  auto fifo = EventFifo::create(o.fifo_parent, owner);
  if (!fifo) return fail(std::move(fifo).error().wrap("starting the kernel"));
  KernelLaunch launch = kernel_launch(o.language, (*fifo)->path());

  SpawnOptions so;
  so.cmd = launch.cmd;
  so.args = std::move(launch.args);
  so.env = o.env;
  so.cwd = o.cwd;
  so.pipe_stdin = true;
  so.change_identity = o.change_identity;
  so.uid = o.uid;
  so.gid = o.gid;
  so.groups = o.groups;
  auto spawned = spawn_process(so);
  if (!spawned) return fail(std::move(spawned).error());

  std::shared_ptr<Kernel> k(new Kernel(loop, spawned->pid));
  k->listener_ = listener;
  k->fifo_ = std::move(*fifo);
  k->stdin_fd_ = std::move(spawned->stdin_fd);
  k->out_.fd = std::move(spawned->stdout_fd);
  k->err_.fd = std::move(spawned->stderr_fd);
  k->err_.is_stderr = true;

  std::weak_ptr<Kernel> weak = k;
  k->pidfd_ = UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, k->pid_, 0)));
  if (k->pidfd_) {
    k->pidfd_poll_ = std::make_unique<uv::Poll>(loop, k->pidfd_.get());
    k->pidfd_poll_->start(UV_READABLE, [weak](int, int) {
      if (auto self = weak.lock()) self->on_process_gone();
    });
  } else {
    // No pidfd (kernel < 5.3): the reaper collects the pid, so kill(pid, 0) fails then.
    k->liveness_timer_ = std::make_unique<uv::Timer>(loop);
    k->liveness_timer_->start(kLivenessPollMs, kLivenessPollMs, [weak] {
      auto self = weak.lock();
      if (self && !process_alive(self->pid_)) self->on_process_gone();
    });
  }
  k->fifo_poll_ = std::make_unique<uv::Poll>(loop, k->fifo_->fd());
  k->fifo_poll_->start(UV_READABLE | UV_DISCONNECT, [weak](int, int) {
    if (auto self = weak.lock()) self->on_events_readable();
  });
  k->watch_pipes();
  k->stdin_queue_ = std::move(launch.init_input);
  k->flush_stdin();
  log::debug("interpreter", "started {} kernel, pid {}", language_name(o.language), k->pid_);
  return k;
}

void Kernel::watch_pipes() {
  for (Pipe* p : {&out_, &err_}) {
    if (!p->fd || exited_) continue;
    if (paused_) {
      p->poll.reset();
      continue;
    }
    if (!p->poll) p->poll = std::make_unique<uv::Poll>(loop_, p->fd.get());
    std::weak_ptr<Kernel> weak = shared_from_this();
    p->poll->start(UV_READABLE | UV_DISCONNECT, [weak, p](int, int) {
      if (auto self = weak.lock()) self->on_pipe_readable(*p);
    });
  }
}

void Kernel::set_output_paused(bool paused) {
  if (paused == paused_) return;
  paused_ = paused;
  watch_pipes();
}

void Kernel::on_pipe_readable(Pipe& pipe) {
  auto self = shared_from_this();
  (void)read_pipe(pipe, kReadChunk);
}

bool Kernel::read_pipe(Pipe& pipe, size_t limit) {
  char buf[kReadChunk];
  size_t total = 0;
  while (pipe.fd && total < limit) {
    ssize_t n = ::read(pipe.fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return true;
    if (n <= 0) {  // EOF or an error: this pipe is done
      pipe.poll.reset();
      pipe.fd.reset();
      return false;
    }
    total += static_cast<size_t>(n);
    deliver_output(pipe.is_stderr, std::string_view(buf, static_cast<size_t>(n)));
  }
  return true;
}

void Kernel::drain_output() {
  (void)read_pipe(out_, kMaxDrainBytes);
  (void)read_pipe(err_, kMaxDrainBytes);
}

void Kernel::deliver_output(bool is_stderr, std::string_view bytes) {
  if (!ready_) {
    // Kept to explain a kernel that dies before it is ready (bash's job-control notes
    // land here too and are dropped once it is).
    size_t room = kMaxStartupOutput - std::min(kMaxStartupOutput, startup_output_.size());
    startup_output_.append(bytes.substr(0, room));
    return;
  }
  if (listener_) listener_->on_kernel_output(is_stderr, bytes);
}

void Kernel::on_events_readable() {
  auto self = shared_from_this();
  char buf[kReadChunk];
  for (int i = 0; i < 16 && fifo_poll_; ++i) {
    ssize_t n = ::read(fifo_->fd(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      // Every writer closed it: the driver is going away; the pidfd reports the end.
      fifo_poll_.reset();
      return;
    }
    events_.feed(std::string_view(buf, static_cast<size_t>(n)),
                 [this](std::string_view line, bool oversized) { on_event_line(line, oversized); });
  }
}

void Kernel::on_event_line(std::string_view line, bool oversized) {
  if (exited_ && !listener_) return;
  if (oversized) {
    log::warning("interpreter", "kernel {}: dropped an event line over {} bytes", pid_, kMaxEventLine);
    return;
  }
  // Output written before the event comes first.
  drain_output();
  auto ev = parse_kernel_event(line);
  if (!ev) {
    log::debug("interpreter", "kernel {}: dropped a malformed event: {}", pid_, ev.error().message());
    return;
  }
  if (ev->type == KernelEvent::Type::ready) {
    if (ready_) return;
    // Anything on the pipes now is start-up noise: requests are held back until here.
    ready_ = true;
    startup_output_.clear();
    fifo_->remove();
    if (!held_input_.empty()) {
      stdin_queue_.append(held_input_);
      held_input_.clear();
      flush_stdin();
    }
    return;
  }
  if (listener_) listener_->on_kernel_event(*ev);
}

void Kernel::on_process_gone() {
  if (exited_) return;
  auto self = shared_from_this();
  pidfd_poll_.reset();
  liveness_timer_.reset();
  // Events and output the kernel wrote before it died still count.
  if (fifo_poll_) on_events_readable();
  drain_output();
  exited_ = true;
  fifo_poll_.reset();
  out_.poll.reset();
  err_.poll.reset();
  stdin_poll_.reset();
  stdin_fd_.reset();
  fifo_->remove();
  log::debug("interpreter", "kernel {} exited", pid_);
  if (auto* l = listener_) {
    listener_ = nullptr;
    l->on_kernel_exit(startup_output_);
  }
}

Result<void> Kernel::send(std::string_view data) {
  if (exited_ || !stdin_fd_) return fail(Errc::unavailable, "the kernel is not running");
  if (stdin_queue_.size() + held_input_.size() + data.size() > kMaxStdinQueue)
    return fail(Errc::too_large, "the kernel's input queue is full");
  if (!ready_) {
    held_input_.append(data);
    return {};
  }
  stdin_queue_.append(data);
  flush_stdin();
  return {};
}

void Kernel::flush_stdin() {
  while (stdin_fd_ && !stdin_queue_.empty()) {
    ssize_t n = ::write(stdin_fd_.get(), stdin_queue_.data(), stdin_queue_.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      if (!stdin_poll_) {
        stdin_poll_ = std::make_unique<uv::Poll>(loop_, stdin_fd_.get());
        std::weak_ptr<Kernel> weak = shared_from_this();
        stdin_poll_->start(UV_WRITABLE, [weak](int, int) {
          if (auto self = weak.lock()) self->flush_stdin();
        });
      }
      return;
    }
    if (n < 0) {  // EPIPE: the driver is gone; the pidfd reports it
      stdin_queue_.clear();
      break;
    }
    stdin_queue_.erase(0, static_cast<size_t>(n));
  }
  stdin_poll_.reset();
}

void Kernel::interrupt() {
  if (exited_) return;
  // The kernel leads its own session and process group (spawn calls setsid).
  if (::kill(-pid_, SIGINT) != 0) (void)::kill(pid_, SIGINT);
}

void Kernel::kill() {
  if (exited_) return;
  signal_process_tree(pid_, SIGKILL);
}

}  // namespace nexus::agent
