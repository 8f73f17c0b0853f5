// SPDX-License-Identifier: Apache-2.0
// Template definitions: a Debian base (suite, packages, hooks) and its name, with validation.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace nexus::rootfs {

/// A Debian root filesystem bootstrapped with mmdebstrap.
struct DebianBase {
  std::string suite = "bookworm";
  std::string variant = "minbase";
  std::vector<std::string> packages;
  /// Shell snippets run by mmdebstrap's --customize-hook after the built-in ones
  /// (`$1` is the root directory). Trusted input: they run as root on the host.
  std::vector<std::string> customize_hooks;
  std::string mirror = "http://deb.debian.org/debian";
};

struct TemplateDef {
  std::string name;
  std::string description;
  DebianBase base;
};

/// A template name: `^[a-z0-9][a-z0-9._-]{0,62}$`. It is always one path component and
/// never "." or "..", so it cannot leave the templates directory.
bool is_valid_template_name(std::string_view name);
/// Errc::invalid_argument naming the problem when `name` is not valid.
Result<void> validate_template_name(std::string_view name);

/// Checks suite, variant, package names and mirror so that nothing can be smuggled into
/// mmdebstrap's command line or the cache file name. Hooks are not checked (trusted).
Result<void> validate_debian_base(const DebianBase& base);

}  // namespace nexus::rootfs
