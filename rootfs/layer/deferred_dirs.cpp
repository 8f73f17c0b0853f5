// SPDX-License-Identifier: Apache-2.0
// DeferredDirs: a sorted map, so that a subtree is one contiguous range.
#include "rootfs/layer/deferred_dirs.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/unique_fd.hpp"
#include "rootfs/layer/root_dir.hpp"

namespace nexus::rootfs::layer {

void DeferredDirs::set(const std::string& rel, mode_t mode, const timespec times[2]) {
  dirs_[rel] = Meta{mode, {times[0], times[1]}};
}

void DeferredDirs::forget_tree(std::string_view rel) {
  if (rel.empty()) {
    dirs_.clear();
    return;
  }
  dirs_.erase(std::string(rel));
  std::string prefix = std::string(rel) + '/';
  auto it = dirs_.lower_bound(prefix);
  while (it != dirs_.end() && it->first.starts_with(prefix)) it = dirs_.erase(it);
}

Result<void> DeferredDirs::apply(const RootDir& root) const {
  for (const auto& [rel, meta] : dirs_) {
    UniqueFd fd(open_beneath(root.fd(), rel.empty() ? "." : rel.c_str(), O_RDONLY | O_DIRECTORY));
    // Entries are forgotten when removed, so a missing one means a bug, not a bad layer.
    if (!fd) return fail_errno(fmt::format("opening directory '{}'", rel));
    if (fchmod(fd.get(), meta.mode) != 0 || futimens(fd.get(), meta.times) != 0)
      return fail_errno(fmt::format("setting mode and times of '{}'", rel));
  }
  return {};
}

}  // namespace nexus::rootfs::layer
