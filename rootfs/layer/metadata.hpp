// SPDX-License-Identifier: Apache-2.0
// An entry's metadata as it will land on disk: shifted owner, mode, times, the xattrs kept.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <archive.h>
#include <archive_entry.h>

#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "rootfs/layer/apply.hpp"

namespace nexus::rootfs::layer {

struct Xattr {
  std::string name;
  std::string value;
};

struct EntryMeta {
  uid_t uid = 0;
  gid_t gid = 0;
  mode_t mode = 0;          ///< permission bits with setuid/setgid/sticky
  timespec times[2] = {};   ///< atime, mtime (UTIME_OMIT where the entry has none)
  std::vector<Xattr> xattrs;  ///< only the kept ones, capabilities already shifted
  uint64_t dropped_xattrs = 0;
};

/// Checks and maps the entry's owner (Errc::invalid_argument when it is outside the
/// shift's range), and filters its xattrs: user.* and a well-formed
/// security.capability are kept (with a shift, a v2 capability becomes v3 with the
/// namespace root as its rootid); everything else is dropped and counted.
Result<EntryMeta> entry_meta(archive_entry* e, const std::optional<IdShift>& shift);

/// The image's root user as stored on disk (owner of implicitly created parents).
uid_t root_owner(const std::optional<IdShift>& shift);

/// fchown, then fchmod (chown clears setuid), then the xattrs, then futimens. With
/// `replace_xattrs` (a directory kept from a lower layer) the old user.* and
/// security.capability xattrs are removed first. Xattrs the filesystem cannot hold
/// (EOPNOTSUPP) are left out and counted in `dropped`.
Result<void> apply_meta_fd(int fd, const EntryMeta& meta, bool set_mode, bool set_times,
                           bool replace_xattrs, uint64_t& dropped);

/// For entries that cannot be opened (symlinks, FIFOs, devices): *at() calls with
/// AT_SYMLINK_NOFOLLOW on `name` in `dirfd`. Symlinks get no mode.
Result<void> apply_meta_at(int dirfd, const std::string& name, const EntryMeta& meta,
                           bool is_symlink);

}  // namespace nexus::rootfs::layer
