// SPDX-License-Identifier: Apache-2.0
// Manifests and indexes: OCI image manifest, Docker v2 schema 2 manifest, OCI image index and
// Docker manifest list, parsed from bounded JSON into one model. Schema 1, unknown media
// types and oversized documents are refused (Errc::invalid_argument / Errc::too_large).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/json.hpp"
#include "common/result.hpp"
#include "rootfs/oci/digest.hpp"
#include "rootfs/oci/platform.hpp"

namespace nexus::oci {

struct Descriptor {
  std::string media_type;
  Digest digest;
  uint64_t size = 0;
  std::optional<Platform> platform;  ///< index entries only
  std::map<std::string, std::string> annotations;
};

struct ImageManifest {
  std::string media_type;  ///< kOciManifest or kDockerManifest
  Descriptor config;
  std::vector<Descriptor> layers;
};

struct ImageIndex {
  std::string media_type;  ///< kOciIndex or kDockerList
  std::vector<Descriptor> manifests;
};

using ParsedManifest = std::variant<ImageManifest, ImageIndex>;

/// Parse a manifest or index. `content_type` is the HTTP Content-Type (may be empty, as in an
/// OCI layout); the body's own mediaType, when present, must agree with it.
Result<ParsedManifest> parse_manifest(std::string_view body, std::string_view content_type = {});

/// A descriptor object ({mediaType, digest, size, platform?, annotations?}).
Result<Descriptor> parse_descriptor(const Json& j);

/// The index entry for `want` (see platform.hpp for the matching rules). No match is
/// Errc::not_found naming the wanted platform and the ones the index has.
Result<Descriptor> select_platform(const ImageIndex& index, const Platform& want);

/// JSON of an OCI image manifest (used when importing docker-save archives).
std::string manifest_json(const ImageManifest& m);

}  // namespace nexus::oci
