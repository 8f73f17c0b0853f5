// SPDX-License-Identifier: Apache-2.0
// File metadata of the envd protocol: user.e2b.<key> extended attributes.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace nexus::agent {

using FileMetadata = std::map<std::string, std::string>;

constexpr std::string_view kMetadataXattrPrefix = "user.e2b.";
constexpr size_t kMaxMetadataEntries = 64;
constexpr size_t kMaxMetadataValueBytes = 4096;

/// Whether `key` is a valid metadata key: an HTTP token (the SDK's rule), at most 200 bytes.
bool valid_metadata_key(std::string_view key);

/// The user.e2b.* attributes of `path` (not following a final symlink), keys without the
/// prefix. Best effort: a file system without xattrs, or oversized values, give no entries.
FileMetadata read_metadata(const std::string& path);
/// Same for an open file.
FileMetadata read_metadata_fd(int fd);

/// Replace the user.e2b.* attributes of an open file with `metadata`.
Result<void> write_metadata_fd(int fd, const FileMetadata& metadata);

}  // namespace nexus::agent
