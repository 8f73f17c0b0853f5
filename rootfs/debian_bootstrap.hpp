// SPDX-License-Identifier: Apache-2.0
// Bootstrapping a Debian base with mmdebstrap into the cache, as a tarball.
#pragma once

#include <string>
#include <vector>

#include "common/result.hpp"
#include "rootfs/progress.hpp"
#include "rootfs/template_def.hpp"

namespace nexus::rootfs {

/// The mmdebstrap command line that writes `base` as a tarball to `output_tar`.
std::vector<std::string> mmdebstrap_argv(const DebianBase& base, const std::string& output_tar,
                                         const std::string& mmdebstrap = "mmdebstrap");

/// Returns cached_base_path(cache_dir, base), running mmdebstrap first when that file
/// does not exist. The tarball is written under a temporary name in cache_dir and
/// renamed into place when complete, so a cached file is always whole.
Result<std::string> ensure_debian_base(const DebianBase& base, const std::string& cache_dir,
                                       const std::string& mmdebstrap,
                                       const ProgressFn& progress);

}  // namespace nexus::rootfs
