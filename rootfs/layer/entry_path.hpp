// SPDX-License-Identifier: Apache-2.0
// Layer entry names: normalising them beneath the root, and recognising whiteout markers.
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace nexus::rootfs::layer {

/// "./a//b/" -> "a/b", "/abs" -> "abs", "./" -> "" (the root itself). A ".." component, an
/// empty or missing name, or one of PATH_MAX bytes or more fail with Errc::invalid_argument.
Result<std::string> normalize_entry_path(const char* raw);

/// "a/b/c" -> parent "a/b", name "c"; "c" -> parent "", name "c". `rel` is normalised.
struct SplitPath {
  std::string_view parent;
  std::string_view name;
};
SplitPath split_path(std::string_view rel);

/// "a" + "b" -> "a/b", "" + "b" -> "b".
std::string join_path(std::string_view parent, std::string_view name);

enum class WhiteoutKind {
  none,    ///< an ordinary entry
  entry,   ///< `.wh.<target>`: hide <target> of lower layers
  opaque,  ///< `.wh..wh..opq`: hide everything lower layers put in this directory
  meta,    ///< another `.wh..wh.` name (aufs bookkeeping): ignored
};
struct Whiteout {
  WhiteoutKind kind = WhiteoutKind::none;
  std::string_view target;  ///< for WhiteoutKind::entry
};

/// Classifies a base name. `.wh.`, `.wh..` and `.wh...` (which would name the directory
/// itself or its parent) fail with Errc::invalid_argument.
Result<Whiteout> classify_whiteout(std::string_view name);

}  // namespace nexus::rootfs::layer
