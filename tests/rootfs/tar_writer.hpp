// SPDX-License-Identifier: Apache-2.0
// A small tar writer (libarchive) for making test archives.
#pragma once

#include <archive.h>

#include <cstdint>
#include <string>

namespace nexus::rootfs::test {

/// Writes a pax tar entry by entry; close() or the destructor finishes it.
class TarWriter {
 public:
  explicit TarWriter(const std::string& path);
  ~TarWriter();
  TarWriter(const TarWriter&) = delete;
  TarWriter& operator=(const TarWriter&) = delete;

  void dir(const std::string& path, unsigned mode = 0755, int64_t uid = 0, int64_t gid = 0);
  void file(const std::string& path, const std::string& data, unsigned mode = 0644,
            int64_t uid = 0, int64_t gid = 0, const std::string& xattr_name = {});
  void symlink(const std::string& path, const std::string& target);
  void hardlink(const std::string& path, const std::string& target);
  void char_device(const std::string& path);
  void close();

 private:
  archive* a_ = nullptr;
};

}  // namespace nexus::rootfs::test
