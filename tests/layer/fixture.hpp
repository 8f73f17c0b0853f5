// SPDX-License-Identifier: Apache-2.0
// Test fixture: a scratch directory with the destination root, a sentinel directory beside
// it that no layer may touch, and the blobs; plus helpers to look at the result.
#pragma once

#include <sys/stat.h>
#include <sys/xattr.h>

#include <catch.hpp>

#include <optional>
#include <string>
#include <vector>

#include "layer_writer.hpp"
#include "rootfs/layer/apply.hpp"

namespace nexus::rootfs::layer::test {

class Sandbox {
 public:
  Sandbox();  // <scratch>/{root,sentinel/file,blobs}
  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  const std::string& root() const { return root_; }
  const std::string& sentinel() const { return sentinel_; }
  std::string in_root(const std::string& rel) const { return root_ + "/" + rel; }

  /// A blob path; each call gives a new one.
  std::string blob_path();
  /// Adds a layer blob to the image being built, with digest "sha256:<name>".
  LayerWriter& layer(const std::string& name, Codec codec = Codec::gzip);
  /// Closes the writers and applies the layers onto root().
  Result<ApplyResult> apply(const ApplyOptions& options = {});
  const std::vector<LayerBlob>& blobs() const { return blobs_; }

  /// Fails the test unless the sentinel is exactly as created (one file, same content,
  /// mode, mtime and link count).
  void check_sentinel() const;

 private:
  std::string scratch_, root_, sentinel_;
  struct stat sentinel_dir_st_ {}, sentinel_file_st_ {};
  std::vector<LayerBlob> blobs_;
  std::vector<std::unique_ptr<LayerWriter>> writers_;
  int next_blob_ = 0;
};

struct stat lstat_of(const std::string& path);
bool exists(const std::string& path);
std::string slurp(const std::string& path);
std::optional<std::string> xattr_of(const std::string& path, const std::string& name);
/// Every path below `root`, relative, sorted.
std::vector<std::string> tree(const std::string& root);
/// REQUIREs that `r` failed and that its message has every one of `parts`.
void require_error(const Result<ApplyResult>& r, std::initializer_list<std::string> parts);

}  // namespace nexus::rootfs::layer::test
