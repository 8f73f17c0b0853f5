// SPDX-License-Identifier: Apache-2.0
// Applying an image's OCI layer blobs, in order, onto an empty directory: the image's rootfs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace nexus::rootfs::layer {

/// One layer blob on disk (gzip, zstd or plain tar; detected from its first bytes).
struct LayerBlob {
  std::string path;
  /// The descriptor's mediaType, or empty. When given it must be an OCI or Docker layer type;
  /// it does not override the content, but a blob that should be compressed and is not
  /// fails early with a clear error.
  std::string media_type;
  /// The blob's digest, for error messages and progress (may be empty).
  std::string digest;
};

/// Image id u is stored as host id base + u; ids >= count are refused (the jail's user
/// namespace maps 0..count-1 onto base..base+count-1).
struct IdShift {
  uint32_t base = 100000;
  uint32_t count = 65536;
};

/// Per-image bounds against decompression bombs: past either one the apply fails with
/// Errc::too_large. Both count the whole image, all layers together.
struct Limits {
  /// Bounds the regular files' sizes (holes included) and, separately, the decompressed
  /// tar streams (which also carry headers and skipped data).
  uint64_t max_unpacked_bytes = uint64_t{64} << 30;
  /// Tar entries of every kind, whiteouts and skipped ones included.
  uint64_t max_entries = 4'000'000;
};

/// Where one layer's reading is; compressed bytes, since that is what is on disk.
struct Progress {
  size_t layer = 0;             ///< 0-based index into the layers given
  size_t layers = 0;            ///< how many layers there are
  std::string_view digest;      ///< LayerBlob::digest
  uint64_t compressed_read = 0;
  uint64_t compressed_total = 0;  ///< the blob's size
};
/// Called on the applying thread: at the start of each layer, about every MiB read, and
/// once with compressed_read == compressed_total when the layer is done.
using ProgressFn = std::function<void(const Progress&)>;

struct ApplyOptions {
  /// Unset: owners are kept as in the image (any id below 2^32-1).
  std::optional<IdShift> id_shift;
  /// Create character and block devices (otherwise skipped and counted). FIFOs are always
  /// created; sockets are always skipped.
  bool allow_devices = false;
  Limits limits;
  ProgressFn progress;
};

/// Counts for one layer or for the whole image.
struct ApplyStats {
  uint64_t entries = 0;          ///< tar entries read
  uint64_t files = 0;            ///< regular files written
  uint64_t dirs = 0;             ///< directory entries applied (implicit parents not counted)
  uint64_t symlinks = 0;
  uint64_t hardlinks = 0;
  uint64_t specials = 0;          ///< FIFOs, and devices when allowed
  uint64_t whiteouts = 0;         ///< `.wh.<name>` entries applied
  uint64_t opaque_dirs = 0;       ///< `.wh..wh..opq` entries applied
  uint64_t skipped_devices = 0;   ///< character/block devices and sockets left out
  uint64_t dropped_xattrs = 0;    ///< xattrs left out (see README.md for which)
  uint64_t bytes = 0;             ///< regular files' sizes (hardlinks counted once)

  ApplyStats& operator+=(const ApplyStats& o);
};

struct ApplyResult {
  ApplyStats total;
  std::vector<ApplyStats> layers;  ///< one per layer, in order
};

/// Applies `layers` in order onto `dest_dir`, which must exist and be empty:
///  * OCI whiteouts and opaque directories hide entries of lower layers only; the markers
///    never appear in the tree. Other `.wh..wh.` names (aufs metadata) are ignored.
///  * Leading '/' and "./" are stripped (entries are relative to the image root, as the OCI
///    layer spec describes them); a ".." component in a path or hardlink target fails.
///  * No write, mkdir, chown, chmod, utime or link ever goes through a symlink: every path
///    is resolved beneath the root with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), and
///    an entry below a symlink fails. An entry replacing a symlink replaces the link.
///  * Owners (shifted by id_shift), modes with setuid/setgid/sticky, mtimes (directories'
///    after all layers), user.* and security.capability xattrs are kept.
/// Errors name the layer ("layer 2/3 (sha256:...)") and the entry's path, with
/// Errc::invalid_argument for a bad or hostile layer and Errc::too_large past a limit.
/// Nothing is ever written outside dest_dir; on failure the partly built tree is left for
/// the caller to delete (rootfs::remove_tree). Needs root (CAP_CHOWN, CAP_FOWNER, CAP_MKNOD,
/// CAP_SETFCAP). Nobody else may write below dest_dir meanwhile. Blocking; any thread.
[[nodiscard]] Result<ApplyResult> apply_layers(std::span<const LayerBlob> layers,
                                               const std::string& dest_dir,
                                               const ApplyOptions& options = {});

}  // namespace nexus::rootfs::layer
