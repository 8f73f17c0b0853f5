// SPDX-License-Identifier: Apache-2.0
// Process: output pumping with back-pressure, stdin queue, exit and deadline handling.
#include "guest-agent/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "guest-agent/process_tree.hpp"

namespace nexus::agent {

Process::Process(uv::Loop& loop, SpawnedProcess spawned, ProcessConfig config,
                 std::optional<std::string> tag)
    : loop_(loop),
      pid_(spawned.pid),
      config_(std::move(config)),
      tag_(std::move(tag)),
      pty_(spawned.pty_master.valid()),
      stdin_fd_(std::move(spawned.stdin_fd)) {
  if (pty_) {
    // Reading and writing need separate uv::Poll handles, which libuv allows only on
    // distinct fd numbers: writes go through a duplicate of the master.
    stdin_fd_ = UniqueFd(::fcntl(spawned.pty_master.get(), F_DUPFD_CLOEXEC, 3));
    out_.fd = std::move(spawned.pty_master);
  } else {
    out_.fd = std::move(spawned.stdout_fd);
    err_.fd = std::move(spawned.stderr_fd);
  }
  stdin_enabled_ = stdin_fd_.valid();
}

Process::~Process() {
  // Poll handles must stop before their fds close.
  out_.poll.reset();
  err_.poll.reset();
  stdin_poll_.reset();
}

void Process::start_io() {
  if (io_started_) return;
  io_started_ = true;
  for (bool is_err : {false, true}) {
    Pipe& p = is_err ? err_ : out_;
    if (!p.fd) {
      p.eof = true;
      continue;
    }
    p.poll = std::make_unique<uv::Poll>(loop_, p.fd.get());
  }
  update_polling();
  maybe_finish();
}

void Process::subscribe(std::shared_ptr<ProcessSubscriber> sub) {
  subscribers_.push_back(std::move(sub));
}

void Process::unsubscribe(const ProcessSubscriber* sub) {
  subscribers_.erase(std::remove_if(subscribers_.begin(), subscribers_.end(),
                                    [&](const auto& s) { return s.get() == sub; }),
                     subscribers_.end());
  update_polling();
}

bool Process::any_congested() const {
  return std::any_of(subscribers_.begin(), subscribers_.end(),
                     [](const auto& s) { return s->congested(); });
}

void Process::update_polling() {
  if (!io_started_ || finished_) return;
  paused_ = any_congested();
  for (bool is_err : {false, true}) {
    Pipe& p = is_err ? err_ : out_;
    if (!p.poll || p.eof) continue;
    if (paused_) {
      p.poll->stop();
    } else {
      p.poll->start(UV_READABLE | UV_DISCONNECT,
                    [this, is_err](int, int) { on_readable(is_err); });
    }
  }
}

void Process::resume_output() {
  if (paused_) update_polling();
}

void Process::close_pipe(Pipe& p) {
  p.eof = true;
  p.poll.reset();
  p.fd.reset();
}

void Process::on_readable(bool is_stderr) {
  auto self = shared_from_this();  // a subscriber callback may drop the last reference
  Pipe& p = is_stderr ? err_ : out_;
  if (p.eof) return;
  char buf[kReadChunk];
  ssize_t n = ::read(p.fd.get(), buf, pty_ ? kPtyReadChunk : sizeof buf);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    // Read errors count as EOF; for a terminal master EIO is the normal end (no slave
    // holder is left).
    close_pipe(p);
    maybe_finish();
    return;
  }
  if (n == 0) {
    close_pipe(p);
    maybe_finish();
    return;
  }
  std::string_view data(buf, static_cast<size_t>(n));
  // Output with no subscriber is discarded (envd semantics).
  auto subs = subscribers_;
  OutputKind kind = pty_       ? OutputKind::pty_data
                    : is_stderr ? OutputKind::stderr_data
                                : OutputKind::stdout_data;
  for (auto& s : subs) s->on_output(kind, data);
  if (any_congested()) update_polling();
}

Result<void> Process::write_stdin(std::string_view data) {
  if (pty_) return fail(Errc::internal, "the process has a PTY: send pty input, not stdin");
  if (!stdin_enabled_) return fail(Errc::internal, "stdin is not enabled for this process");
  return queue_input(data);
}

Result<void> Process::write_pty(std::string_view data) {
  if (!pty_) return fail(Errc::internal, "the process has no PTY");
  return queue_input(data);
}

Result<void> Process::resize_pty(PtySize size) {
  if (!pty_) return fail(Errc::internal, "the process has no PTY");
  int fd = stdin_fd_ ? stdin_fd_.get() : out_.fd.get();
  if (fd < 0) return fail(Errc::internal, "the terminal is closed");
  auto r = set_pty_size(fd, size);
  if (!r) return fail(Errc::internal, r.error().message());
  return {};
}

Result<void> Process::queue_input(std::string_view data) {
  if (!stdin_fd_ || stdin_close_requested_) return fail(Errc::internal, "stdin is closed");
  if (stdin_queue_.size() + data.size() > kMaxStdinQueue)
    return fail(Errc::too_large, "stdin queue is full");
  stdin_queue_.append(data);
  flush_stdin();
  return {};
}

void Process::flush_stdin() {
  while (stdin_fd_ && !stdin_queue_.empty()) {
    ssize_t n = ::write(stdin_fd_.get(), stdin_queue_.data(), stdin_queue_.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        if (!stdin_poll_) {
          stdin_poll_ = std::make_unique<uv::Poll>(loop_, stdin_fd_.get());
          stdin_poll_->start(UV_WRITABLE, [this](int, int) {
            auto self = shared_from_this();
            flush_stdin();
          });
        }
        return;
      }
      // EPIPE etc.: the reader is gone; drop what is queued.
      stdin_queue_.clear();
      stdin_poll_.reset();
      stdin_fd_.reset();
      return;
    }
    stdin_queue_.erase(0, static_cast<size_t>(n));
  }
  if (stdin_queue_.empty()) {
    stdin_poll_.reset();
    if (stdin_close_requested_) stdin_fd_.reset();
  }
}

Result<void> Process::close_stdin() {
  if (pty_) return fail(Errc::internal, "the process has a PTY and no stdin pipe");
  stdin_close_requested_ = true;
  if (stdin_queue_.empty()) {
    stdin_poll_.reset();
    stdin_fd_.reset();
  }
  return {};
}

bool Process::signal_tree(int sig) {
  // Once the leader is reaped its pid may be reused, but not while its session or group has
  // members; so from then on only those members are signalled, never the pid itself.
  return signal_process_tree(pid_, sig, /*include_leader=*/!exit_);
}

bool Process::signal(int sig) {
  bool reaped = exit_.has_value();
  bool any = signal_tree(sig);
  if (reaped && (sig == SIGKILL || sig == SIGTERM)) end_output();
  return any;
}

void Process::end_output() {
  auto self = shared_from_this();
  close_pipe(out_);
  close_pipe(err_);
  maybe_finish();
}

void Process::set_deadline(uint64_t ms) {
  deadline_timer_ = std::make_unique<uv::Timer>(loop_);
  deadline_timer_->start(ms, 0, [this] {
    auto self = shared_from_this();
    deadline_hit_ = true;
    // The leader may already be gone while descendants hold the pipes: the tree search
    // also finds its session, and the stream ends either way.
    signal(SIGKILL);
  });
}

void Process::on_wait_status(int status) {
  auto self = shared_from_this();
  wait_status_ = status;
  exit_ = describe_wait_status(status);
  stdin_poll_.reset();
  stdin_fd_.reset();
  maybe_finish();
}

void Process::maybe_finish() {
  if (finished_ || !exit_ || !io_started_ || !out_.eof || !err_.eof) return;
  finished_ = true;
  auto self = shared_from_this();
  deadline_timer_.reset();
  auto subs = std::move(subscribers_);
  subscribers_.clear();
  for (auto& s : subs) s->on_end(*exit_, deadline_hit_);
  if (on_finished_) {
    auto cb = std::move(on_finished_);
    cb(this);
  }
}

}  // namespace nexus::agent
