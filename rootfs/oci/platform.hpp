// SPDX-License-Identifier: Apache-2.0
// Platforms (os/architecture/variant) and how an index entry is matched against the one
// wanted: os and architecture equal after normalising aliases (x86_64 -> amd64, aarch64 ->
// arm64); a wanted variant must equal the entry's (arm64's "v8" equals none); no wanted
// variant takes an entry without one first, else the first entry of that os/architecture.
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace nexus::oci {

struct Platform {
  std::string os = "linux";
  std::string architecture = "amd64";
  std::string variant;

  /// "linux/amd64", "linux/arm64/v8".
  std::string str() const;
  bool operator==(const Platform&) const = default;
};

/// "os/arch[/variant]", normalised; anything else is Errc::invalid_argument.
Result<Platform> parse_platform(std::string_view text);

/// Aliases to the OCI names (x86_64 -> amd64, aarch64 -> arm64, armhf -> arm + v7).
Platform normalize(Platform p);

/// The platform of the running program (linux/amd64 on x86-64).
Platform host_platform();

/// Whether `have` satisfies `want` strictly (variant included, arm64 "v8" == "").
bool platform_matches(const Platform& want, const Platform& have);

}  // namespace nexus::oci
