// SPDX-License-Identifier: Apache-2.0
// Prints each seeded template's Debian base, one line each: NAME SUITE VARIANT MIRROR PKG,PKG...
// (for check_seeded_resolve.sh, which asks apt whether they resolve).
#include <fmt/format.h>

#include "rootfs/seeded_templates.hpp"

int main() {
  for (const auto& t : nexus::rootfs::seeded_templates())
    fmt::print("{} {} {} {} {}\n", t.name, t.base.suite, t.base.variant, t.base.mirror, fmt::join(t.base.packages, ","));
  return 0;
}
