// SPDX-License-Identifier: Apache-2.0
// The build context of `nexus template build -f`: a directory packed as a tar for
// POST /v1/templates (files, directories and symlinks; owners are not sent, COPY sets them).
#pragma once

#include <cstdint>
#include <string>

#include "common/result.hpp"

namespace nexus::cli {

inline constexpr uint64_t kMaxContextBytes = uint64_t{256} << 20;  ///< nexusd's bound

/// Packs `dir` (its entries relative to it, sorted; symlinks as links, never followed; other
/// file types left out). Lines of `dir`/.nexusignore are fnmatch patterns on the relative
/// path (a pattern also matches everything below a matching directory; '#' comments).
/// Errc::too_large past kMaxContextBytes.
Result<std::string> pack_context(const std::string& dir);

}  // namespace nexus::cli
