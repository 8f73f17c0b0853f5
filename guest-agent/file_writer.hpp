// SPDX-License-Identifier: Apache-2.0
// Writing an uploaded file as a user, in place, as real envd does: the target is opened with
// O_TRUNC (following a symlink, keeping its inode, mode and hard links), so watchers see
// CREATE/WRITE on its own name. A failed upload removes a file it created; an existing file
// it was overwriting keeps the bytes written so far (envd's behaviour too).
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
  /// Open `path` (absolute, normalised) for writing as `user`: creates parent directories,
  /// refuses a directory target (invalid_argument), truncates an existing file. `metadata`
  /// replaces the file's user.e2b.* attributes; without it those of an existing file stay.
  static Result<std::unique_ptr<FileWriter>> open(
      const std::string& path, const User& user, bool switch_identity,
      const std::optional<FileMetadata>& metadata = std::nullopt);
  ~FileWriter();  ///< removes the file unless committed, if this writer created it
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;

  Result<void> write(std::string_view data);
  /// Close the file (reporting a late write error).
  Result<void> commit();
  const std::string& path() const { return path_; }
  /// The metadata the file gets.
  const FileMetadata& metadata() const { return metadata_; }

 private:
  FileWriter(std::string path, UniqueFd fd, bool created, const User& user, bool switch_identity);
  std::string path_;
  UniqueFd fd_;
  bool created_;
  User user_;
  bool switch_identity_;
  bool committed_ = false;
  FileMetadata metadata_;
};

}  // namespace nexus::agent
