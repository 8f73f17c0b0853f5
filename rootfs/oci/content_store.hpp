// SPDX-License-Identifier: Apache-2.0
// The content store: verified blobs at <root>/blobs/sha256/<hex> (DESIGN.md §4).
//
// On disk:
//   <root>/blobs/sha256/<hex>          complete blobs; the name is the SHA-256 of the content
//   <root>/blobs/ingest/<hex>.partial  a download in progress, kept when it fails so the next
//                                      attempt resumes it (HTTP Range)
//   <root>/blobs/ingest/tmp-<random>   an ingest whose digest is not known beforehand
// Ingest is atomic: bytes go to a file in ingest/ (same filesystem), which is fsynced,
// verified against the expected digest and size, then renamed into sha256/ and the directory
// fsynced. A blob is therefore either absent or complete and correct. Paths are built only
// from validated Digests, never from strings read from the network or an archive.
//
// Thread-safety: a ContentStore may be used from several threads at once. Two writers for
// the same digest exclude each other with flock(2); the second gets Errc::conflict.
#pragma once

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "rootfs/oci/digest.hpp"

namespace nexus::oci {

/// Writes one blob into the store. Move-only. Destroying a writer without commit() keeps a
/// resumable partial file (for a known digest) or removes the temporary (for an unknown one).
class BlobWriter {
 public:
  BlobWriter(BlobWriter&&) noexcept;
  BlobWriter& operator=(BlobWriter&&) noexcept;
  ~BlobWriter();

  /// Bytes already present (and hashed) from an earlier, interrupted attempt.
  uint64_t offset() const noexcept { return offset_; }
  /// Append; more bytes than the expected size is Errc::too_large.
  Result<void> write(std::string_view data);
  /// Throw away what was written (e.g. the server ignored a Range request).
  Result<void> restart();
  /// fsync, verify, rename into place. A digest or size mismatch is Errc::protocol and
  /// removes the partial file. Returns the blob's digest.
  Result<Digest> commit();
  /// Remove the partial file now (it will not be resumed).
  void discard() noexcept;

 private:
  friend class ContentStore;
  BlobWriter() = default;

  std::string blobs_dir_, temp_path_;
  Digest expected_;
  uint64_t expected_size_ = 0;  // 0: unknown
  bool resumable_ = false;
  UniqueFd fd_;
  Sha256 hash_;
  uint64_t offset_ = 0;
};

struct GcStats {
  size_t blobs_removed = 0;
  uint64_t bytes_removed = 0;
  size_t temporaries_removed = 0;
};

class ContentStore {
 public:
  /// The store under `root` (created if missing: <root>/blobs/{sha256,ingest}).
  static Result<ContentStore> at(const std::string& root);

  const std::string& root() const noexcept { return root_; }
  /// <root>/blobs/sha256/<hex> (whether or not it exists).
  std::string path(const Digest& d) const;
  bool has(const Digest& d) const;
  Result<uint64_t> size(const Digest& d) const;
  /// Read-only, O_CLOEXEC. A missing blob is Errc::not_found.
  Result<UniqueFd> open(const Digest& d) const;
  /// The whole blob, at most `max_bytes` (Errc::too_large past it), re-verified against its
  /// digest so a corrupted file on disk is noticed (Errc::protocol).
  Result<std::string> read(const Digest& d, uint64_t max_bytes) const;
  /// Store bytes already in memory; returns their digest.
  Result<Digest> put(std::string_view data) const;

  /// A resumable writer for a blob of known digest and size (size 0: unknown).
  Result<BlobWriter> writer(const Digest& expected, uint64_t expected_size) const;
  /// A writer for content whose digest is learnt by commit().
  Result<BlobWriter> writer() const;

  /// Every complete blob.
  Result<std::vector<Digest>> list() const;
  /// Remove blobs not in `keep`, stray files in sha256/, and ingest files older than
  /// `temp_max_age` that no writer holds.
  Result<GcStats> gc(const std::set<Digest>& keep, std::chrono::seconds temp_max_age = std::chrono::hours(24)) const;

 private:
  std::string root_, blobs_dir_, ingest_dir_;
};

}  // namespace nexus::oci
