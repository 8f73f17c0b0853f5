// SPDX-License-Identifier: Apache-2.0
#include "rootfs/oci/platform.hpp"

#include <fmt/format.h>

#include "common/strings.hpp"

namespace nexus::oci {

std::string Platform::str() const {
  return variant.empty() ? os + "/" + architecture : os + "/" + architecture + "/" + variant;
}

Platform normalize(Platform p) {
  if (p.architecture == "x86_64" || p.architecture == "x86-64") p.architecture = "amd64";
  if (p.architecture == "aarch64") p.architecture = "arm64";
  if (p.architecture == "armhf") {
    p.architecture = "arm";
    if (p.variant.empty()) p.variant = "v7";
  }
  if (p.architecture == "arm64" && p.variant == "v8") p.variant.clear();
  return p;
}

Result<Platform> parse_platform(std::string_view text) {
  auto parts = split(text, '/');
  if (parts.size() < 2 || parts.size() > 3)
    return fail(Errc::invalid_argument, fmt::format("platform '{}' must be os/arch[/variant]", text));
  for (const auto& p : parts) {
    if (p.empty()) return fail(Errc::invalid_argument, fmt::format("platform '{}' has an empty part", text));
    for (char c : p)
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
        return fail(Errc::invalid_argument, fmt::format("platform '{}': '{}' must be lowercase [a-z0-9_-]", text, p));
  }
  Platform out{parts[0], parts[1], parts.size() == 3 ? parts[2] : ""};
  return normalize(std::move(out));
}

Platform host_platform() {
#if defined(__x86_64__)
  return {"linux", "amd64", ""};
#elif defined(__aarch64__)
  return {"linux", "arm64", ""};
#else
  return {"linux", "unknown", ""};
#endif
}

bool platform_matches(const Platform& want, const Platform& have) {
  Platform w = normalize(want), h = normalize(have);
  return w.os == h.os && w.architecture == h.architecture && w.variant == h.variant;
}

}  // namespace nexus::oci
