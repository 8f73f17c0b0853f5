// SPDX-License-Identifier: Apache-2.0
// LayerWriter: builds layer blobs for the tests (pax tar, plain, gzip or zstd) with libarchive.
#pragma once

#include <archive.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace nexus::rootfs::layer::test {

enum class Codec { plain, gzip, zstd };

struct Attrs {
  unsigned mode = 0644;
  int64_t uid = 0;
  int64_t gid = 0;
  int64_t mtime = 1700000000;
  std::vector<std::pair<std::string, std::string>> xattrs;
};

inline Attrs dir_attrs(unsigned mode = 0755) { return Attrs{.mode = mode}; }

/// Writes a layer entry by entry; close() (or the destructor) finishes the blob. Throws
/// std::runtime_error on libarchive errors. Paths are written exactly as given.
class LayerWriter {
 public:
  LayerWriter(const std::string& path, Codec codec);
  ~LayerWriter();
  LayerWriter(const LayerWriter&) = delete;
  LayerWriter& operator=(const LayerWriter&) = delete;

  LayerWriter& dir(const std::string& path, const Attrs& a = dir_attrs());
  LayerWriter& file(const std::string& path, const std::string& data, const Attrs& a = {});
  /// A regular file of `size` zero bytes, streamed (for decompression bombs).
  LayerWriter& zeros(const std::string& path, uint64_t size);
  LayerWriter& symlink(const std::string& path, const std::string& target);
  LayerWriter& hardlink(const std::string& path, const std::string& target);
  LayerWriter& fifo(const std::string& path);
  LayerWriter& device(const std::string& path, bool block, unsigned major, unsigned minor);
  void close();

 private:
  archive* a_ = nullptr;
};

}  // namespace nexus::rootfs::layer::test
