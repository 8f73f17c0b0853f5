// SPDX-License-Identifier: Apache-2.0
// A layer blob opened as a libarchive tar reader: compression detected from the content,
// only the tar format and the gzip/zstd filters enabled, compressed bytes counted.
#pragma once

#include <archive.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace nexus::rootfs::layer {

enum class Compression { none, gzip, zstd };

/// The compression of a blob starting with `head` (its first bytes, fewer if the blob is
/// shorter). The magic decides; `media_type` (may be empty) must be a known layer type, and
/// one that says gzip or zstd over a blob without that magic fails.
Result<Compression> detect_compression(std::span<const unsigned char> head,
                                       std::string_view media_type);

class BlobReader {
 public:
  /// Called with (compressed bytes read so far, blob size): once with 0 before reading, then
  /// about every MiB and at EOF.
  using OnRead = std::function<void(uint64_t read, uint64_t total)>;

  static Result<std::unique_ptr<BlobReader>> open(const std::string& path,
                                                  std::string_view media_type, OnRead on_read);
  ~BlobReader();
  BlobReader(const BlobReader&) = delete;
  BlobReader& operator=(const BlobReader&) = delete;

  archive* get() const noexcept { return archive_; }
  /// Decompressed tar bytes consumed so far.
  uint64_t unpacked_bytes() const;
  uint64_t compressed_total() const noexcept { return total_; }
  /// libarchive's last error text.
  std::string message() const;

 private:
  BlobReader(UniqueFd fd, uint64_t total, OnRead on_read);
  static la_ssize_t read_cb(archive* a, void* self, const void** buffer);

  UniqueFd fd_;
  uint64_t total_ = 0;
  uint64_t read_ = 0;
  uint64_t reported_ = 0;
  OnRead on_read_;
  std::vector<unsigned char> buffer_;
  archive* archive_ = nullptr;  // owned; freed before fd_ closes
};

}  // namespace nexus::rootfs::layer
