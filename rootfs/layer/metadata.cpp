// SPDX-License-Identifier: Apache-2.0
// Owner mapping, xattr filtering and applying an entry's metadata without following links.
#include "rootfs/layer/metadata.hpp"

#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <set>

#include <fmt/format.h>

#include "rootfs/layer/capability.hpp"

namespace nexus::rootfs::layer {

namespace {

constexpr std::string_view kCapability = "security.capability";
// (uid_t)-1 means "unchanged" to chown, so it can never be an owner.
constexpr int64_t kNoShiftIdLimit = int64_t{UINT32_MAX};

bool managed_xattr(std::string_view name) {
  return name.starts_with("user.") || name == kCapability;
}

timespec entry_time(bool is_set, time_t sec, long nsec) {
  if (!is_set) return {0, UTIME_OMIT};
  if (nsec < 0 || nsec > 999'999'999) nsec = 0;
  return {sec, nsec};
}

// Removes the user.* and security.capability xattrs a lower layer left on `fd`.
Result<void> clear_managed_xattrs(int fd) {
  ssize_t size = flistxattr(fd, nullptr, 0);
  if (size <= 0) return {};  // none, or a filesystem without xattrs
  std::string names(static_cast<size_t>(size), '\0');
  size = flistxattr(fd, names.data(), names.size());
  if (size < 0) return fail_errno("listing xattrs");
  names.resize(static_cast<size_t>(size));
  for (size_t pos = 0; pos < names.size();) {
    std::string name(names.c_str() + pos);
    pos += name.size() + 1;
    if (managed_xattr(name) && fremovexattr(fd, name.c_str()) != 0 && errno != ENODATA)
      return fail_errno(fmt::format("removing xattr {}", name));
  }
  return {};
}

}  // namespace

uid_t root_owner(const std::optional<IdShift>& shift) { return shift ? shift->base : 0; }

Result<EntryMeta> entry_meta(archive_entry* e, const std::optional<IdShift>& shift) {
  EntryMeta m;
  int64_t uid = archive_entry_uid(e);
  int64_t gid = archive_entry_gid(e);
  int64_t limit = shift ? int64_t{shift->count} : kNoShiftIdLimit;
  if (uid < 0 || uid >= limit || gid < 0 || gid >= limit)
    return fail(Errc::invalid_argument,
                fmt::format("owned by {}:{}, outside the mapped range 0-{}", uid, gid,
                            limit - 1));
  uint32_t base = shift ? shift->base : 0;
  m.uid = static_cast<uid_t>(base + static_cast<uint32_t>(uid));
  m.gid = static_cast<gid_t>(base + static_cast<uint32_t>(gid));
  m.mode = archive_entry_perm(e) & 07777;
  m.times[1] = entry_time(archive_entry_mtime_is_set(e), archive_entry_mtime(e),
                          archive_entry_mtime_nsec(e));
  m.times[0] = archive_entry_atime_is_set(e)
                   ? entry_time(true, archive_entry_atime(e), archive_entry_atime_nsec(e))
                   : m.times[1];

  // libarchive's pax writer stores each xattr twice (LIBARCHIVE.xattr and SCHILY.xattr) and
  // its reader returns both: the first of each name counts.
  std::set<std::string, std::less<>> seen;
  archive_entry_xattr_reset(e);
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    std::string_view n = name != nullptr ? name : "";
    std::string_view v(static_cast<const char*>(value), value != nullptr ? size : 0);
    if (!seen.emplace(n).second) continue;
    if (n.starts_with("user.") && n.size() > 5) {
      m.xattrs.push_back({std::string(n), std::string(v)});
    } else if (n == kCapability) {
      if (auto cap = capability_for_disk(v, shift))
        m.xattrs.push_back({std::string(n), std::move(*cap)});
      else
        ++m.dropped_xattrs;
    } else {
      ++m.dropped_xattrs;  // trusted.*, security.selinux, POSIX ACLs (unshifted ids), ...
    }
  }
  return m;
}

Result<void> apply_meta_fd(int fd, const EntryMeta& meta, bool set_mode, bool set_times,
                           bool replace_xattrs, uint64_t& dropped) {
  if (fchown(fd, meta.uid, meta.gid) != 0) return fail_errno("chown");
  if (set_mode && fchmod(fd, meta.mode) != 0) return fail_errno("chmod");
  if (replace_xattrs) NEXUS_TRY(clear_managed_xattrs(fd));
  for (const auto& x : meta.xattrs) {
    if (fsetxattr(fd, x.name.c_str(), x.value.data(), x.value.size(), 0) == 0) continue;
    if (errno == EOPNOTSUPP) {
      ++dropped;
      continue;
    }
    return fail_errno(fmt::format("setting xattr {}", x.name));
  }
  if (set_times && futimens(fd, meta.times) != 0) return fail_errno("setting times");
  return {};
}

Result<void> apply_meta_at(int dirfd, const std::string& name, const EntryMeta& meta,
                           bool is_symlink) {
  if (fchownat(dirfd, name.c_str(), meta.uid, meta.gid, AT_SYMLINK_NOFOLLOW) != 0)
    return fail_errno("chown");
  // glibc refuses AT_SYMLINK_NOFOLLOW chmod on a symlink, and never follows one.
  if (!is_symlink && fchmodat(dirfd, name.c_str(), meta.mode, AT_SYMLINK_NOFOLLOW) != 0)
    return fail_errno("chmod");
  if (utimensat(dirfd, name.c_str(), meta.times, AT_SYMLINK_NOFOLLOW) != 0)
    return fail_errno("setting times");
  return {};
}

}  // namespace nexus::rootfs::layer
