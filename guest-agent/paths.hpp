// SPDX-License-Identifier: Apache-2.0
// envd path resolution: "~" and relative paths against the user's home, ".." normalised.
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace nexus::agent {

/// Resolve `path` for a user: empty -> `default_dir` (if non-empty) else `home`;
/// "~" and "~/x" -> home; relative -> joined to home; absolute as-is. The result is
/// absolute and lexically normalised, without a trailing slash (except "/").
/// Paths with NUL bytes or longer than PATH_MAX are invalid_argument.
Result<std::string> resolve_path(std::string_view path, const std::string& home,
                                 const std::string& default_dir = {});

/// The last component of an absolute normalised path ("" for "/").
std::string base_name(std::string_view path);
/// The parent directory of an absolute normalised path ("/" for "/x" and "/").
std::string parent_dir(std::string_view path);

}  // namespace nexus::agent
