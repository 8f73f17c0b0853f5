// SPDX-License-Identifier: Apache-2.0
// OCI whiteouts and opaque directories. They hide lower layers' entries only: an entry the
// current layer wrote survives, whichever order the tar has them in (image-spec layer.md,
// "Whiteouts"), so the current layer's paths are tracked in present_, parents included: a
// lower directory this layer writes into is this layer's now.
#include <fcntl.h>
#include <sys/stat.h>

#include "rootfs/layer/image_applier.hpp"
#include "rootfs/layer/root_dir.hpp"

namespace nexus::rootfs::layer {

Result<void> ImageApplier::whiteout(std::string_view parent, std::string_view target) {
  auto dir = root_.open_dir(parent);
  if (!dir) {
    int err = dir.error().errno_value();
    if (err == ENOENT || err == ENOTDIR) return {};  // nothing below to hide
    return fail(std::move(dir).error());
  }
  return hide_lower(dir->get(), join_path(parent, target), std::string(target),
                    present_.find(parent));
}

Result<void> ImageApplier::opaque(std::string_view dir) {
  auto fd = parent_dir(dir);  // the opaque directory is part of this layer
  if (!fd) return fail(std::move(fd).error());
  present_.insert(dir);
  const PathSet::Node* node = present_.find(dir);
  auto names = list_dir(*fd);
  if (!names) return fail(std::move(names).error());
  for (const auto& name : *names) NEXUS_TRY(hide_lower(*fd, join_path(dir, name), name, node));
  return {};
}

Result<void> ImageApplier::hide_lower(int dirfd, const std::string& rel, const std::string& name,
                                      const PathSet::Node* parent) {
  const PathSet::Node* node = PathSet::child(parent, name);
  if (node == nullptr) return clear(dirfd, name, rel, false).map([](bool) {});
  struct stat st {};
  if (fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    return errno == ENOENT ? Result<void>() : fail_errno("inspecting '" + rel + "'");
  if (!S_ISDIR(st.st_mode)) return {};
  // This layer's directory, possibly merged over a lower one: keep only this layer's part.
  UniqueFd sub(openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!sub) return fail_errno("opening '" + rel + "'");
  auto names = list_dir(sub.get());
  if (!names) return fail(std::move(names).error());
  for (const auto& n : *names) NEXUS_TRY(hide_lower(sub.get(), join_path(rel, n), n, node));
  return {};
}

}  // namespace nexus::rootfs::layer
