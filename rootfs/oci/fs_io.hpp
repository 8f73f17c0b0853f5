// SPDX-License-Identifier: Apache-2.0
// Small POSIX file helpers for the OCI code (internal: not part of the public API).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace nexus::oci {

Result<void> write_all(int fd, std::string_view data);
Result<void> fsync_dir(const std::string& dir);
Result<void> make_dirs(const std::string& dir);
/// Open read-only with O_CLOEXEC; ENOENT becomes Errc::not_found.
Result<UniqueFd> open_read(const std::string& path);
/// A whole file of at most `max_bytes` (Errc::too_large past it).
Result<std::string> read_file_bounded(const std::string& path, uint64_t max_bytes);
/// Read `fd` from its current offset to the end in chunks, giving each to `sink`.
template <class Sink>
Result<void> read_chunks(int fd, Sink&& sink);

}  // namespace nexus::oci

#include <unistd.h>

#include <cerrno>

namespace nexus::oci {

template <class Sink>
Result<void> read_chunks(int fd, Sink&& sink) {
  std::string buf(1 << 16, '\0');
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_errno("read");
    if (n == 0) return {};
    NEXUS_TRY(sink(std::string_view(buf.data(), static_cast<size_t>(n))));
  }
}

}  // namespace nexus::oci
