// SPDX-License-Identifier: Apache-2.0
// Path resolution for file APIs and process working directories.
#include "guest-agent/paths.hpp"

#include <climits>
#include <vector>

namespace nexus::agent {

static std::string normalise_absolute(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view part = path.substr(i, j - i);
    if (part.empty() || part == ".") {
      // skip
    } else if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else {
      parts.push_back(part);
    }
    i = j;
  }
  std::string out;
  for (auto p : parts) {
    out += '/';
    out.append(p);
  }
  return out.empty() ? std::string("/") : out;
}

Result<std::string> resolve_path(std::string_view path, const std::string& home,
                                 const std::string& default_dir) {
  if (path.find('\0') != std::string_view::npos)
    return fail(Errc::invalid_argument, "path contains a NUL byte");
  if (path.size() >= PATH_MAX) return fail(Errc::invalid_argument, "path is too long");
  std::string full;
  if (path.empty()) {
    full = default_dir.empty() ? home : default_dir;
  } else if (path == "~") {
    full = home;
  } else if (path.substr(0, 2) == "~/") {
    full = home + "/" + std::string(path.substr(2));
  } else if (path.front() == '/') {
    full = std::string(path);
  } else {
    full = home + "/" + std::string(path);
  }
  if (full.empty() || full.front() != '/') full = "/" + full;
  std::string out = normalise_absolute(full);
  if (out.size() >= PATH_MAX) return fail(Errc::invalid_argument, "path is too long");
  return out;
}

std::string base_name(std::string_view path) {
  size_t pos = path.rfind('/');
  return std::string(pos == std::string_view::npos ? path : path.substr(pos + 1));
}

std::string parent_dir(std::string_view path) {
  size_t pos = path.rfind('/');
  if (pos == std::string_view::npos || pos == 0) return "/";
  return std::string(path.substr(0, pos));
}

}  // namespace nexus::agent
