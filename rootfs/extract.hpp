// SPDX-License-Identifier: Apache-2.0
// Unpacking a tar into a directory with the user-namespace id shift applied on the way.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.hpp"
#include "rootfs/progress.hpp"

namespace nexus::rootfs {

struct ExtractOptions {
  /// Image id u becomes host id uid_base + u; ids >= uid_count are refused.
  uint32_t uid_base = 100000;
  uint32_t uid_count = 65536;
  /// chown to the shifted ids (needs CAP_CHOWN). When false the files belong to the
  /// caller and libarchive drops setuid/setgid bits, as it must.
  bool apply_ownership = true;
};

struct ExtractStats {
  uint64_t entries = 0;          ///< entries written
  uint64_t bytes = 0;            ///< regular file bytes written (hardlinks counted once)
  uint64_t skipped_devices = 0;  ///< device nodes and sockets left out (the jail has its own /dev)
  /// Entries whose security.capability, POSIX ACL or trusted.overlay.* xattrs were left out.
  uint64_t dropped_xattrs = 0;
};

/// Extracts the tar (optionally compressed) at `tar_path` into the existing directory
/// `dest_dir`, which becomes the archive's root:
///  * leading '/' and "./" are stripped; an entry or hardlink target with a ".."
///    component fails the extraction (Errc::invalid_argument), nothing is written above
///    `dest_dir`, and no entry is written through a symlink;
///  * owners are numeric and shifted by uid_base; modes (setuid included), times and
///    xattrs are kept, except the xattrs named in ExtractStats::dropped_xattrs;
///  * character and block devices and sockets are skipped.
/// On failure the partly written tree is left for the caller to remove.
Result<ExtractStats> extract_tar(const std::string& tar_path, const std::string& dest_dir,
                                 const ExtractOptions& options, const ProgressFn& progress);

}  // namespace nexus::rootfs
