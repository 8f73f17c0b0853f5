// SPDX-License-Identifier: Apache-2.0
// filesystem.EntryInfo as real envd fills it (Go os.Lstat + os.Stat of symlink targets).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include <map>
#include <string>

#include "common/json.hpp"
#include "common/result.hpp"

namespace nexus::agent {

/// Go's os.FileMode(...).String() for a stat(2) mode: "-rw-r--r--", "drwxr-xr-x",
/// "Lrwxrwxrwx", "dtrwxrwxrwx", "Dcrw-rw-rw-", "urwxr-xr-x".
std::string go_file_mode_string(mode_t mode);

/// A protobuf-JSON Timestamp: RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits and "Z"
/// ("2024-01-01T00:00:00.123456789Z"), as Go's protojson writes it.
std::string format_timestamp(const struct timespec& ts);

/// "FILE_TYPE_FILE", "FILE_TYPE_DIRECTORY", "FILE_TYPE_SYMLINK" or "FILE_TYPE_UNSPECIFIED".
const char* file_type_name(mode_t mode);

/// Builds EntryInfo messages, caching the uid/gid names read from passwd/group.
/// Not thread-safe; make one per request.
class EntryInfoBuilder {
 public:
  explicit EntryInfoBuilder(std::string etc_dir = "/etc") : etc_dir_(std::move(etc_dir)) {}

  /// The entry for `path` (absolute, normalised; reported as given). Uses lstat: a symlink
  /// reports its target's type and permission bits with `symlinkTarget` (a broken link:
  /// FILE_TYPE_UNSPECIFIED). Errors are errno errors (ENOENT: missing).
  Result<Json> build(const std::string& path);
  /// Same, from an lstat result already at hand.
  Json build(const std::string& path, const struct stat& lst);

 private:
  std::string user_name(uid_t uid);
  std::string group_name(gid_t gid);
  void load_names();

  std::string etc_dir_;
  bool loaded_ = false;
  std::map<uid_t, std::string> users_;
  std::map<gid_t, std::string> groups_;
};

}  // namespace nexus::agent
