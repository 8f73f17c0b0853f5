// SPDX-License-Identifier: Apache-2.0
// The customize hooks every Debian template gets: user `user`, /tmp, hostname, hosts.
#pragma once

#include <string>
#include <vector>

#include "rootfs/template_def.hpp"

namespace nexus::rootfs {

/// The built-in hooks followed by `base.customize_hooks`, in the order mmdebstrap runs
/// them. The built-in ones create `user` (uid/gid 1000, home /home/user, /bin/bash, as
/// E2B's images have), make /tmp 1777 and write /etc/hostname and /etc/hosts.
std::vector<std::string> effective_customize_hooks(const DebianBase& base);

}  // namespace nexus::rootfs
