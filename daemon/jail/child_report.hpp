// SPDX-License-Identifier: Apache-2.0
// The message pipe between spawn() and its children, and the child-side step status.
//
// After fork the children may only use async-signal-safe calls, so they report failures as
// a fixed-size record (step text prepared before fork + errno); the parent formats it as
// "<step>: <strerror>". Records are smaller than PIPE_BUF, so each write is atomic.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace nexus::jail::detail {

/// Result of a child-side step: step == nullptr means success.
struct ChildStatus {
  const char* step = nullptr;
  int err = 0;
  explicit operator bool() const noexcept { return step == nullptr; }
};

/// Failure of `step` with the current errno.
inline ChildStatus child_errno(const char* step) noexcept { return {step, errno}; }
/// Failure of `step` with an explicit error number.
inline ChildStatus child_error(const char* step, int err) noexcept { return {step, err}; }

enum class MessageKind : int32_t {
  error = 1,     ///< a step failed (err, step)
  unshared = 2,  ///< the helper is in its new namespaces: write the id maps now
  init_pid = 3,  ///< host pid of the sandbox init (pid)
};

struct ChildMessage {
  MessageKind kind{};
  int32_t err = 0;
  int32_t pid = 0;
  char step[500] = {};
};
static_assert(sizeof(ChildMessage) < 4096, "must stay below PIPE_BUF for atomic writes");

/// Async-signal-safe: send one record (ignores failures: nothing else can be done).
inline void send_message(int fd, MessageKind kind, int err, int pid, const char* step) noexcept {
  ChildMessage m;
  m.kind = kind;
  m.err = err;
  m.pid = pid;
  if (step != nullptr) {
    size_t n = std::strlen(step);
    if (n >= sizeof(m.step)) n = sizeof(m.step) - 1;
    std::memcpy(m.step, step, n);
  }
  ssize_t r;
  do {
    r = ::write(fd, &m, sizeof(m));
  } while (r < 0 && errno == EINTR);
}

/// Async-signal-safe: report a failed step and end the child.
[[noreturn]] inline void child_fail(int fd, const ChildStatus& s) noexcept {
  send_message(fd, MessageKind::error, s.err, 0, s.step);
  ::_exit(127);
}

}  // namespace nexus::jail::detail
