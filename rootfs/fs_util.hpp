// SPDX-License-Identifier: Apache-2.0
// Filesystem helpers for atomic template and cache writes.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace nexus::rootfs {

/// mkdir -p with `mode` for the directories it creates.
Result<void> make_dirs(const std::string& path, unsigned mode = 0755);
/// mkdtemp("<dir>/<prefix>XXXXXX"); returns the new directory's path.
Result<std::string> make_temp_dir(const std::string& dir, const std::string& prefix);
/// rm -rf without following symlinks. A missing path is not an error.
Result<void> remove_tree(const std::string& path);
/// fsync() a directory, so that renames in it are durable.
Result<void> fsync_dir(const std::string& path);
/// syncfs() the filesystem holding `path`: makes a whole freshly written tree durable.
Result<void> sync_filesystem(const std::string& path);
/// Writes `data` to `path` (created 0644) and fsyncs it.
Result<void> write_file_synced(const std::string& path, std::string_view data);
/// The whole content of a file; Errc::not_found when it does not exist.
Result<std::string> read_file(const std::string& path);
/// True when `path` exists (lstat), false when it does not, an error otherwise.
Result<bool> path_exists(const std::string& path);

/// An exclusive flock() on `path` (created if missing), held until destruction.
class FileLock {
 public:
  static Result<FileLock> acquire(const std::string& path);
 private:
  explicit FileLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace nexus::rootfs
