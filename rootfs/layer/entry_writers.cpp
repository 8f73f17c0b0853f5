// SPDX-License-Identifier: Apache-2.0
// Writing one entry of each type, relative to its parent's fd, never through a symlink.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "rootfs/layer/blob_reader.hpp"
#include "rootfs/layer/image_applier.hpp"
#include "rootfs/layer/root_dir.hpp"

namespace nexus::rootfs::layer {

namespace {

constexpr int kOpenDir = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

}  // namespace

Result<int> ImageApplier::parent_dir(std::string_view rel) {
  if (cache_valid_ && cached_rel_ == rel) return cached_fd_.get();
  uid_t owner = root_owner(opt_.id_shift);
  auto fd = root_.make_dirs(rel, owner, owner);
  if (!fd) return fail(std::move(fd).error());
  cached_fd_ = std::move(*fd);
  cached_rel_ = rel;
  cache_valid_ = true;
  return cached_fd_.get();
}

Result<bool> ImageApplier::clear(int dirfd, const std::string& name, const std::string& rel,
                                 bool keep_dir) {
  struct stat st {};
  if (fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return false;
    return fail_errno("inspecting what is there");
  }
  if (S_ISDIR(st.st_mode)) {
    if (keep_dir) return true;
    deferred_.forget_tree(rel);
    // The cached parent may be at or below `rel`; its fd stays open for the caller's use.
    cache_valid_ = false;
  }
  NEXUS_TRY(remove_entry(dirfd, name));
  return false;
}

Result<void> ImageApplier::write_root(const Entry& en) {
  NEXUS_TRY(apply_meta_fd(root_.fd(), en.meta, false, false, true, stats_.dropped_xattrs));
  deferred_.set(en.rel, en.meta.mode, en.meta.times);
  ++stats_.dirs;
  return {};
}

Result<void> ImageApplier::write_dir(const Entry& en) {
  auto dirfd = parent_dir(en.split.parent);
  if (!dirfd) return fail(std::move(dirfd).error());
  std::string name(en.split.name);
  auto kept = clear(*dirfd, name, en.rel, true);
  if (!kept) return fail(std::move(kept).error());
  if (!*kept && mkdirat(*dirfd, name.c_str(), 0700) != 0) return fail_errno("mkdir");
  UniqueFd fd(openat(*dirfd, name.c_str(), kOpenDir));
  if (!fd) return fail_errno("opening the directory");
  NEXUS_TRY(apply_meta_fd(fd.get(), en.meta, false, false, *kept, stats_.dropped_xattrs));
  deferred_.set(en.rel, en.meta.mode, en.meta.times);
  ++stats_.dirs;
  return {};
}

Result<void> ImageApplier::write_file(BlobReader& reader, const Entry& en) {
  int64_t size = archive_entry_size_is_set(en.e) ? archive_entry_size(en.e) : 0;
  if (size < 0) return fail(Errc::invalid_argument, "a negative size");
  uint64_t usize = static_cast<uint64_t>(size);
  if (usize > opt_.limits.max_unpacked_bytes - file_bytes_)
    return fail(Errc::too_large,
                fmt::format("{} bytes would take the image past its limit of {} bytes", usize,
                            opt_.limits.max_unpacked_bytes));
  file_bytes_ += usize;

  auto dirfd = parent_dir(en.split.parent);
  if (!dirfd) return fail(std::move(dirfd).error());
  std::string name(en.split.name);
  NEXUS_TRY(clear(*dirfd, name, en.rel, false));
  // O_EXCL: the name was just cleared, so this creates a new inode and follows nothing.
  UniqueFd fd(openat(*dirfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                     0600));
  if (!fd) return fail_errno("creating the file");
  NEXUS_TRY(copy_data(reader, fd.get(), size));
  NEXUS_TRY(apply_meta_fd(fd.get(), en.meta, true, true, false, stats_.dropped_xattrs));
  ++stats_.files;
  stats_.bytes += usize;
  return {};
}

Result<void> ImageApplier::write_symlink(const Entry& en) {
  const char* target = archive_entry_symlink(en.e);
  if (target == nullptr || *target == '\0')
    return fail(Errc::invalid_argument, "a symlink without a target");
  auto dirfd = parent_dir(en.split.parent);
  if (!dirfd) return fail(std::move(dirfd).error());
  std::string name(en.split.name);
  NEXUS_TRY(clear(*dirfd, name, en.rel, false));
  if (symlinkat(target, *dirfd, name.c_str()) != 0) return fail_errno("creating the symlink");
  NEXUS_TRY(apply_meta_at(*dirfd, name, en.meta, true));
  stats_.dropped_xattrs += en.meta.xattrs.size();  // Linux keeps no user.* on symlinks
  ++stats_.symlinks;
  return {};
}

Result<void> ImageApplier::write_hardlink(const Entry& en, const char* target) {
  auto target_rel = normalize_entry_path(target);
  if (!target_rel)
    return fail(std::move(target_rel).error().wrap(fmt::format("hardlink target '{}'", target)));
  if (target_rel->empty()) return fail(Errc::invalid_argument, "a hardlink to the root");
  if (*target_rel == en.rel) {  // a link to itself: nothing to do
    ++stats_.hardlinks;
    return {};
  }
  auto dirfd = parent_dir(en.split.parent);
  if (!dirfd) return fail(std::move(dirfd).error());
  std::string name(en.split.name);
  NEXUS_TRY(clear(*dirfd, name, en.rel, false));

  SplitPath t = split_path(*target_rel);
  std::string what = fmt::format("hardlink target '{}'", *target_rel);
  auto tdir = root_.open_dir(t.parent);
  if (!tdir) {
    int err = tdir.error().errno_value();
    if (err == ENOENT || err == ENOTDIR)
      return fail(Errc::invalid_argument, what + " does not exist");
    return fail(std::move(tdir).error().wrap(what));
  }
  std::string tname(t.name);
  struct stat st {};
  if (fstatat(tdir->get(), tname.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    return fail(Errc::invalid_argument, what + " does not exist");
  if (S_ISDIR(st.st_mode)) return fail(Errc::invalid_argument, what + " is a directory");
  // Flags 0: a symlink target is linked itself, never followed.
  if (linkat(tdir->get(), tname.c_str(), *dirfd, name.c_str(), 0) != 0)
    return fail_errno("creating the hardlink");
  ++stats_.hardlinks;
  return {};
}

Result<void> ImageApplier::write_special(const Entry& en, mode_t type) {
  auto dirfd = parent_dir(en.split.parent);
  if (!dirfd) return fail(std::move(dirfd).error());
  std::string name(en.split.name);
  NEXUS_TRY(clear(*dirfd, name, en.rel, false));
  dev_t dev = type == S_IFIFO ? 0 : archive_entry_rdev(en.e);
  if (mknodat(*dirfd, name.c_str(), type | 0600, dev) != 0) return fail_errno("mknod");
  NEXUS_TRY(apply_meta_at(*dirfd, name, en.meta, false));
  stats_.dropped_xattrs += en.meta.xattrs.size();
  ++stats_.specials;
  return {};
}

// The entry replaces whatever lower layers had there, with nothing.
Result<void> ImageApplier::skip_device(const Entry& en) {
  auto dirfd = parent_dir(en.split.parent);
  if (!dirfd) return fail(std::move(dirfd).error());
  NEXUS_TRY(clear(*dirfd, std::string(en.split.name), en.rel, false));
  ++stats_.skipped_devices;
  return {};
}

}  // namespace nexus::rootfs::layer
