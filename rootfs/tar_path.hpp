// SPDX-License-Identifier: Apache-2.0
// The path of a tar entry relative to the root it is extracted into.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace nexus::rootfs {

/// "./a//b/" -> "a/b", "/abs" -> "abs", "." -> "" (the root itself); nullopt when a ".."
/// component would climb out of the root. Callers word the error for their context.
std::optional<std::string> relative_tar_path(std::string_view raw);

}  // namespace nexus::rootfs
