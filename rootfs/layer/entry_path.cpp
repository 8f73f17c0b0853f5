// SPDX-License-Identifier: Apache-2.0
// Entry name normalisation and whiteout classification.
#include "rootfs/layer/entry_path.hpp"

#include <climits>
#include <cstring>

#include <fmt/format.h>

#include "rootfs/tar_path.hpp"

namespace nexus::rootfs::layer {

namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kMetaPrefix = ".wh..wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";

}  // namespace

Result<std::string> normalize_entry_path(const char* raw) {
  if (raw == nullptr || *raw == '\0')
    return fail(Errc::invalid_argument, "an empty path");
  // Bounds the tree's depth (and so the fds a recursive removal holds) and every path below.
  if (strnlen(raw, PATH_MAX) >= PATH_MAX)
    return fail(Errc::invalid_argument, fmt::format("a path of {} bytes or more", PATH_MAX));
  auto rel = relative_tar_path(raw);
  if (!rel) return fail(Errc::invalid_argument, "a '..' component would leave the root");
  return std::move(*rel);
}

SplitPath split_path(std::string_view rel) {
  size_t slash = rel.rfind('/');
  if (slash == std::string_view::npos) return {{}, rel};
  return {rel.substr(0, slash), rel.substr(slash + 1)};
}

std::string join_path(std::string_view parent, std::string_view name) {
  std::string out(parent);
  if (!out.empty()) out += '/';
  out += name;
  return out;
}

Result<Whiteout> classify_whiteout(std::string_view name) {
  if (!name.starts_with(kWhiteoutPrefix)) return Whiteout{};
  if (name == kOpaqueMarker) return Whiteout{WhiteoutKind::opaque, {}};
  if (name.starts_with(kMetaPrefix)) return Whiteout{WhiteoutKind::meta, {}};
  std::string_view target = name.substr(kWhiteoutPrefix.size());
  if (target.empty() || target == "." || target == "..")
    return fail(Errc::invalid_argument,
                fmt::format("whiteout '{}' names no entry of its directory", name));
  return Whiteout{WhiteoutKind::entry, target};
}

}  // namespace nexus::rootfs::layer
