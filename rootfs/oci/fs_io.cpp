// SPDX-License-Identifier: Apache-2.0
#include "rootfs/oci/fs_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <filesystem>

#include <fmt/format.h>

namespace nexus::oci {

Result<void> write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_errno("write");
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

Result<void> fsync_dir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return fail_errno("open " + dir);
  if (::fsync(fd.get()) != 0) return fail_errno("fsync " + dir);
  return {};
}

Result<void> make_dirs(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail(Error(ec, "creating " + dir + ": " + ec.message()));
  return {};
}

Result<UniqueFd> open_read(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return fail(Errc::not_found, path + " does not exist");
    return fail_errno("open " + path);
  }
  return fd;
}

Result<std::string> read_file_bounded(const std::string& path, uint64_t max_bytes) {
  auto fd = open_read(path);
  if (!fd) return fail(std::move(fd).error());
  std::string out;
  NEXUS_TRY(read_chunks(fd->get(), [&](std::string_view chunk) -> Result<void> {
    if (out.size() + chunk.size() > max_bytes)
      return fail(Errc::too_large, fmt::format("{} is larger than {} bytes", path, max_bytes));
    out.append(chunk);
    return {};
  }));
  return out;
}

}  // namespace nexus::oci
