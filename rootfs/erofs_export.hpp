// SPDX-License-Identifier: Apache-2.0
// A template tree as a read-only EROFS image: the microVM's /dev/vda (rootfs.erofs).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/result.hpp"
#include "rootfs/progress.hpp"

namespace nexus::rootfs {

struct ErofsOptions {
  /// -zlz4: smaller image, but the guest inflates on every page-cache miss and the host's
  /// page cache of the image can no longer back guest reads directly. Off by default.
  bool lz4 = false;
  /// -T: give every file this mtime. Unset (the default) keeps each file's mtime, which
  /// Python's .pyc checks and make-like tools depend on.
  std::optional<int64_t> fixed_mtime;
  /// The tree's owners are shifted by this much (the jail's user-namespace base, e.g. 100000):
  /// the image gets owner - id_shift, read through an idmapped mount of the tree, so that the
  /// guest sees root as 0. Ids outside [id_shift, id_shift + 65536) become 65534 (nobody).
  /// 0 (the default): owners are kept as they are on disk. Needs root and a filesystem with
  /// idmapped-mount support (ext4, xfs, btrfs, tmpfs).
  uint32_t id_shift = 0;
  /// The filesystem UUID (fixed, so that one tree always gives the same bytes).
  std::string uuid = "00000000-0000-0000-0000-000000000000";
  /// mkfs.erofs output lines (it runs with --quiet, so mostly warnings).
  ProgressFn on_line;
};

/// Builds `out_path` from `tree_dir` with mkfs.erofs (erofs-utils): owners, modes, symlinks,
/// devices, hard links, xattrs and mtimes kept. Deterministic: a fixed UUID, and the
/// superblock's build time (the only other per-run field) is rewritten to 0 with its crc32c
/// recomputed, so one tree gives byte-identical images. Atomic: built under a temporary name
/// in out_path's directory, fsynced, renamed, the directory fsynced.
Result<void> export_erofs(const std::string& tree_dir, const std::string& out_path,
                          const ErofsOptions& options = {});

/// The absolute path of a system tool (mkfs.erofs, mkfs.ext4, ...): looked up in /usr/sbin,
/// /usr/bin, /sbin, /bin, then $PATH. Errc::not_found names the Debian package to install
/// when `package` is given.
Result<std::string> find_tool(const std::string& name, const std::string& package = "");

}  // namespace nexus::rootfs
