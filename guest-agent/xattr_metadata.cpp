// SPDX-License-Identifier: Apache-2.0
// user.e2b.* extended attributes.
#include "guest-agent/xattr_metadata.hpp"

#include <sys/xattr.h>

#include <cerrno>
#include <functional>
#include <vector>

#include <fmt/format.h>

namespace nexus::agent {

namespace {

constexpr size_t kMaxKeyBytes = 200;
constexpr size_t kMaxListBytes = 64 * 1024;

using ListFn = std::function<ssize_t(char*, size_t)>;
using GetFn = std::function<ssize_t(const char*, void*, size_t)>;

// The names of all attributes, or empty on any error.
std::vector<std::string> list_names(const ListFn& list) {
  std::vector<char> buf(4096);
  for (;;) {
    ssize_t n = list(buf.data(), buf.size());
    if (n >= 0) {
      std::vector<std::string> out;
      size_t start = 0;
      for (size_t i = 0; i < static_cast<size_t>(n); ++i)
        if (buf[i] == '\0') {
          out.emplace_back(buf.data() + start, i - start);
          start = i + 1;
        }
      return out;
    }
    if (errno != ERANGE || buf.size() >= kMaxListBytes) return {};
    buf.resize(buf.size() * 4);
  }
}

FileMetadata read_with(const ListFn& list, const GetFn& get) {
  FileMetadata out;
  for (const auto& name : list_names(list)) {
    if (name.compare(0, kMetadataXattrPrefix.size(), kMetadataXattrPrefix) != 0) continue;
    std::string key = name.substr(kMetadataXattrPrefix.size());
    if (key.empty() || out.size() >= kMaxMetadataEntries) continue;
    char value[kMaxMetadataValueBytes];
    ssize_t n = get(name.c_str(), value, sizeof value);
    if (n < 0) continue;  // vanished or too large for this protocol
    out[key] = std::string(value, static_cast<size_t>(n));
  }
  return out;
}

}  // namespace

bool valid_metadata_key(std::string_view key) {
  if (key.empty() || key.size() > kMaxKeyBytes) return false;
  for (char c : key) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

FileMetadata read_metadata(const std::string& path) {
  const char* p = path.c_str();
  return read_with([p](char* b, size_t n) { return ::llistxattr(p, b, n); },
                   [p](const char* name, void* v, size_t n) { return ::lgetxattr(p, name, v, n); });
}

FileMetadata read_metadata_fd(int fd) {
  return read_with([fd](char* b, size_t n) { return ::flistxattr(fd, b, n); },
                   [fd](const char* name, void* v, size_t n) { return ::fgetxattr(fd, name, v, n); });
}

Result<void> write_metadata_fd(int fd, const FileMetadata& metadata) {
  for (const auto& name : list_names([fd](char* b, size_t n) { return ::flistxattr(fd, b, n); })) {
    if (name.compare(0, kMetadataXattrPrefix.size(), kMetadataXattrPrefix) != 0) continue;
    if (::fremovexattr(fd, name.c_str()) != 0 && errno != ENODATA)
      return fail_errno(fmt::format("removing metadata '{}'", name));
  }
  for (const auto& [key, value] : metadata) {
    std::string name = std::string(kMetadataXattrPrefix) + key;
    if (::fsetxattr(fd, name.c_str(), value.data(), value.size(), 0) != 0)
      return fail_errno(fmt::format("storing metadata '{}'", key));
  }
  return {};
}

}  // namespace nexus::agent
