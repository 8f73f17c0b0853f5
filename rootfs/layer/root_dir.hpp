// SPDX-License-Identifier: Apache-2.0
// The destination root as a directory fd: resolving paths beneath it without ever following
// a symlink, creating missing parents, and removing entries by fd.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace nexus::rootfs::layer {

/// openat2(dirfd, path, flags | O_CLOEXEC) with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
/// RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV: -1 with errno (ELOOP for any symlink on the way,
/// the last component included).
int open_beneath(int dirfd, const char* path, int flags);

class RootDir {
 public:
  /// Opens `path`, which must be an existing, empty directory (a tree must never be applied
  /// over something else). Errc::invalid_argument when it is not empty.
  static Result<RootDir> open(const std::string& path);

  int fd() const noexcept { return fd_.get(); }
  const std::string& path() const noexcept { return path_; }

  /// The directory at `rel` ("" is the root). errno ENOENT/ENOTDIR when it or a component
  /// is missing or not a directory; a component that is a symlink fails with
  /// Errc::invalid_argument naming it.
  Result<UniqueFd> open_dir(std::string_view rel) const;

  /// Same, creating missing components (mode 0755, owned by uid:gid, as tar does for
  /// parents an archive leaves out).
  Result<UniqueFd> make_dirs(std::string_view rel, uid_t uid, gid_t gid) const;

 private:
  RootDir(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  Result<UniqueFd> walk(std::string_view rel, bool create, uid_t uid, gid_t gid) const;

  UniqueFd fd_;
  std::string path_;
};

/// The names in the directory `dirfd` (without "." and "..").
Result<std::vector<std::string>> list_dir(int dirfd);

/// Removes `name` in `dirfd` and, for a directory, everything below it, never following a
/// symlink. A missing name is not an error.
Result<void> remove_entry(int dirfd, const std::string& name);

}  // namespace nexus::rootfs::layer
