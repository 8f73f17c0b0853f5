// SPDX-License-Identifier: Apache-2.0
// Built-in mmdebstrap customize hooks.
#include "rootfs/base_hooks.hpp"

namespace nexus::rootfs {

namespace {

// Each is run by mmdebstrap as `sh -c HOOK exec ROOT`, so "$1" is the root directory.
// Changing any of these changes every cache key, so old cached bases are not reused.
constexpr const char* kBuiltinHooks[] = {
    "chroot \"$1\" groupadd --gid 1000 user && "
    "chroot \"$1\" useradd --create-home --uid 1000 --gid 1000 --shell /bin/bash user",
    "chmod 1777 \"$1/tmp\"",
    "echo sandbox > \"$1/etc/hostname\"",
    "printf '127.0.0.1\\tlocalhost\\n127.0.1.1\\tsandbox\\n"
    "::1\\tlocalhost ip6-localhost ip6-loopback\\n"
    "ff02::1\\tip6-allnodes\\nff02::2\\tip6-allrouters\\n' > \"$1/etc/hosts\"",
};

}  // namespace

std::vector<std::string> effective_customize_hooks(const DebianBase& base) {
  std::vector<std::string> hooks(std::begin(kBuiltinHooks), std::end(kBuiltinHooks));
  hooks.insert(hooks.end(), base.customize_hooks.begin(), base.customize_hooks.end());
  return hooks;
}

}  // namespace nexus::rootfs
