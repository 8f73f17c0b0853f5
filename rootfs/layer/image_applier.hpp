// SPDX-License-Identifier: Apache-2.0
// ImageApplier: the state of one apply_layers() call, and the per-entry work.
#pragma once

#include <archive_entry.h>
#include <sys/types.h>

#include <string>
#include <string_view>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "rootfs/layer/apply.hpp"
#include "rootfs/layer/deferred_dirs.hpp"
#include "rootfs/layer/entry_path.hpp"
#include "rootfs/layer/metadata.hpp"
#include "rootfs/layer/path_set.hpp"

namespace nexus::rootfs::layer {

class BlobReader;
class RootDir;

/// Applies layers one after the other onto `root`. Borrows `root` and `options` for its
/// lifetime. Not thread-safe.
class ImageApplier {
 public:
  ImageApplier(const RootDir& root, const ApplyOptions& options);

  /// Applies one layer. Errors name the entry but not the layer (the caller adds that).
  Result<ApplyStats> apply(const LayerBlob& blob, size_t index, size_t count);
  /// Sets the directories' modes and times, once every layer is in.
  Result<void> finish() const { return deferred_.apply(root_); }

 private:
  struct Entry {
    archive_entry* e;
    std::string rel;  ///< normalised path, "" for the root
    SplitPath split;  ///< views into rel
    EntryMeta meta;
  };

  // image_applier.cpp: the entry loop and limits.
  Result<void> next_entry(BlobReader& reader, archive_entry* e);
  Result<void> apply_entry(BlobReader& reader, archive_entry* e);
  Result<void> check_stream(const BlobReader& reader) const;
  Result<void> drain(BlobReader& reader);
  Result<void> copy_data(BlobReader& reader, int fd, int64_t size);

  // entry_writers.cpp: one function per entry type.
  Result<void> write_root(const Entry& en);
  Result<void> write_dir(const Entry& en);
  Result<void> write_file(BlobReader& reader, const Entry& en);
  Result<void> write_symlink(const Entry& en);
  Result<void> write_hardlink(const Entry& en, const char* target);
  Result<void> write_special(const Entry& en, mode_t type);
  Result<void> skip_device(const Entry& en);
  /// Makes way for a new entry at `name` in `dirfd`: removes what is there, except a
  /// directory when `keep_dir`. True when a directory remains.
  Result<bool> clear(int dirfd, const std::string& name, const std::string& rel, bool keep_dir);
  /// The directory `rel`, created if missing; borrowed, valid until the next call.
  Result<int> parent_dir(std::string_view rel);

  // whiteouts.cpp
  Result<void> whiteout(std::string_view parent, std::string_view target);
  Result<void> opaque(std::string_view dir);
  /// Removes what lower layers put at `rel` (`name` in `dirfd`), keeping this layer's;
  /// `parent` is the node of rel's parent in present_ (nullptr: this layer has none of it).
  Result<void> hide_lower(int dirfd, const std::string& rel, const std::string& name,
                          const PathSet::Node* parent);

  const RootDir& root_;
  const ApplyOptions& opt_;
  DeferredDirs deferred_;
  uint64_t entries_ = 0;             // image-wide, against limits.max_entries
  uint64_t file_bytes_ = 0;          // image-wide, against limits.max_unpacked_bytes
  uint64_t stream_bytes_before_ = 0; // decompressed bytes of the layers already applied
  ApplyStats stats_;                 // the current layer's
  PathSet present_;                  // the current layer's paths
  std::string cached_rel_;
  UniqueFd cached_fd_;
  bool cache_valid_ = false;
};

}  // namespace nexus::rootfs::layer
