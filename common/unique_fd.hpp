// SPDX-License-Identifier: Apache-2.0
// UniqueFd: a move-only owner of a file descriptor.
#pragma once

#include <unistd.h>

#include <utility>

namespace nexus {

/// Owns one file descriptor and closes it on destruction. Adopting a raw fd is explicit;
/// there is no implicit conversion back to int (use get()).
class UniqueFd {
 public:
  UniqueFd() noexcept = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) (void)::close(fd_);  // close errors are not actionable here
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace nexus
