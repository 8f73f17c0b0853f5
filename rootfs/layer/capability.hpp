// SPDX-License-Identifier: Apache-2.0
// security.capability values: validating them and moving them into a user namespace.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "rootfs/layer/apply.hpp"

namespace nexus::rootfs::layer {

/// The value to store for an image's security.capability `value`, or nullopt to drop it
/// (malformed, revision 1, or a v3 rootid outside the shift's range).
///
/// Without a shift the value is kept as it is. With one, the capability must belong to the
/// namespace's root: a v2 value (no rootid, meaning the image's root) becomes v3 with rootid
/// `base`, and a v3 rootid r becomes base + r. The kernel then honours it only for the jail's
/// root and turns it back into v2 when read through the erofs export's idmapped mount.
std::optional<std::string> capability_for_disk(std::string_view value,
                                               const std::optional<IdShift>& shift);

}  // namespace nexus::rootfs::layer
