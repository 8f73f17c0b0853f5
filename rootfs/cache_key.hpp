// SPDX-License-Identifier: Apache-2.0
// Cache keys and paths for bootstrapped Debian bases.
#pragma once

#include <string>

#include "rootfs/template_def.hpp"

namespace nexus::rootfs {

/// Bump when the way a base is made changes in a way its inputs do not show (for
/// example mmdebstrap's options). 2: the tarball keeps mmdebstrap's /dev skeleton.
inline constexpr int kBaseFormatVersion = 2;

/// Hex SHA-256 of everything that decides the bootstrapped tree: format version, host
/// architecture, suite, variant, the sorted and de-duplicated package list, the effective
/// customize hooks (built-in ones included, in order) and the mirror.
std::string cache_key(const DebianBase& base);

/// $NEXUS_CACHE_DIR when set and not empty, else /var/cache/nexus.
std::string default_cache_dir();

/// `<cache_dir>/debian-<suite>-<cache_key>.tar`.
std::string cached_base_path(const std::string& cache_dir, const DebianBase& base);

}  // namespace nexus::rootfs
