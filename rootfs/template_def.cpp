// SPDX-License-Identifier: Apache-2.0
// Validation of template names and Debian base definitions.
#include "rootfs/template_def.hpp"

#include <algorithm>
#include <array>

#include <fmt/format.h>

namespace nexus::rootfs {

namespace {

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool all_of_chars(std::string_view s, std::string_view extra) {
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return is_lower_alnum(c) || extra.find(c) != std::string_view::npos;
  });
}

// Debian policy 5.6.1: [a-z0-9][a-z0-9+.-]+, optionally followed by :arch or =version
// (both of which mmdebstrap's --include passes on to apt).
bool is_valid_package(std::string_view p) {
  if (p.empty() || !is_lower_alnum(p[0])) return false;
  size_t cut = p.find_first_of(":=");
  std::string_view name = p.substr(0, cut);
  if (name.size() < 2 || !all_of_chars(name, "+.-")) return false;
  if (cut == std::string_view::npos) return true;
  std::string_view rest = p.substr(cut + 1);
  if (rest.empty()) return false;
  return std::all_of(rest.begin(), rest.end(), [](char c) {
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z') || std::string_view("+.-~:").find(c) !=
                                                                 std::string_view::npos;
  });
}

}  // namespace

bool is_valid_template_name(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  if (!is_lower_alnum(name[0])) return false;
  return all_of_chars(name.substr(1), "._-");
}

Result<void> validate_template_name(std::string_view name) {
  if (is_valid_template_name(name)) return {};
  return fail(Errc::invalid_argument,
              fmt::format("invalid template name '{}': use 1-63 characters from a-z, 0-9, "
                          "'.', '_', '-', starting with a letter or digit",
                          name));
}

Result<void> validate_debian_base(const DebianBase& base) {
  if (base.suite.empty() || base.suite.size() > 64 || !is_lower_alnum(base.suite[0]) ||
      !all_of_chars(base.suite, "-"))
    return fail(Errc::invalid_argument, fmt::format("invalid Debian suite '{}'", base.suite));
  static constexpr std::array<std::string_view, 9> kVariants = {
      "extract", "custom", "essential", "apt", "required", "minbase", "buildd", "important",
      "standard"};
  if (std::find(kVariants.begin(), kVariants.end(), base.variant) == kVariants.end())
    return fail(Errc::invalid_argument,
                fmt::format("invalid mmdebstrap variant '{}'", base.variant));
  for (const auto& p : base.packages)
    if (!is_valid_package(p))
      return fail(Errc::invalid_argument, fmt::format("invalid Debian package name '{}'", p));
  const std::string& m = base.mirror;
  bool scheme_ok = m.starts_with("http://") || m.starts_with("https://") ||
                   m.starts_with("file:/");
  bool chars_ok = std::none_of(m.begin(), m.end(), [](char c) {
    return c <= ' ' || c == '\x7f' || c == '"' || c == '\'' || c == '|' || c == ',';
  });
  if (!scheme_ok || !chars_ok)
    return fail(Errc::invalid_argument, fmt::format("invalid Debian mirror URL '{}'", m));
  return {};
}

}  // namespace nexus::rootfs
