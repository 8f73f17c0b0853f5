// SPDX-License-Identifier: Apache-2.0
// Writing an uploaded file atomically as a user: temp file in the target directory, rename.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "guest-agent/users.hpp"
#include "guest-agent/xattr_metadata.hpp"

namespace nexus::agent {

/// mkdir -p of `dir` (absolute), creating missing components as `user`.
Result<void> make_dirs(const std::string& dir, const User& user, bool switch_identity);

class FileWriter {
 public:
  /// Prepare writing `path` (absolute, normalised): creates parent directories, refuses a
  /// directory target (invalid_argument), and opens a temp file beside it. `metadata`
  /// replaces the file's user.e2b.* attributes; without it those of an existing file are
  /// kept (as an overwrite in place would).
  static Result<std::unique_ptr<FileWriter>> open(
      const std::string& path, const User& user, bool switch_identity,
      const std::optional<FileMetadata>& metadata = std::nullopt);
  ~FileWriter();  ///< removes the temp file unless committed
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;

  Result<void> write(std::string_view data);
  /// Close and rename over the target.
  Result<void> commit();
  const std::string& path() const { return path_; }
  /// The metadata the file gets.
  const FileMetadata& metadata() const { return metadata_; }

 private:
  FileWriter(std::string path, std::string temp, UniqueFd fd, const User& user,
             bool switch_identity);
  std::string path_;
  std::string temp_;
  UniqueFd fd_;
  User user_;
  bool switch_identity_;
  bool committed_ = false;
  FileMetadata metadata_;
};

}  // namespace nexus::agent
