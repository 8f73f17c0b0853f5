// SPDX-License-Identifier: Apache-2.0
// Directory modes and times, set once every layer is applied (writing into a directory
// changes its mtime, and a read-only mode would be in the way of later entries).
#pragma once

#include <sys/stat.h>

#include <map>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace nexus::rootfs::layer {

class RootDir;

class DeferredDirs {
 public:
  /// Records the mode and times of the directory `rel` ("" is the root); a later layer's
  /// entry for the same directory replaces them.
  void set(const std::string& rel, mode_t mode, const timespec times[2]);
  /// Forgets `rel` and everything below it (removed, or replaced by a non-directory).
  void forget_tree(std::string_view rel);
  /// chmod and utimes every recorded directory still there. Errors name the directory.
  Result<void> apply(const RootDir& root) const;

 private:
  struct Meta {
    mode_t mode;
    timespec times[2];
  };
  std::map<std::string, Meta, std::less<>> dirs_;
};

}  // namespace nexus::rootfs::layer
