// SPDX-License-Identifier: Apache-2.0
// ImageRecord: what a pull or an import put into the content store, as the daemon keeps it
// (JSON, so it can live in a SQLite column or a file).
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/json.hpp"
#include "common/result.hpp"
#include "rootfs/oci/digest.hpp"
#include "rootfs/oci/image_config.hpp"

namespace nexus::oci {

struct LayerRecord {
  Digest digest;           ///< of the blob as stored (compressed, as in the manifest)
  std::string media_type;  ///< tells how to decompress it (media_types.hpp)
  uint64_t size = 0;
};

struct ImageRecord {
  std::string reference;               ///< canonical reference, or "oci:<dir>[:ref]" / "docker-archive:<file>"
  std::optional<Digest> index_digest;  ///< when the reference named an index / manifest list
  Digest manifest_digest;
  std::string manifest_media_type;
  Digest config_digest;
  std::vector<LayerRecord> layers;
  ImageConfig config;  ///< parsed from the config blob

  /// Every blob the image needs kept: the gc() root set of this image.
  std::set<Digest> blobs() const;
};

Json image_record_to_json(const ImageRecord& r);
Result<ImageRecord> image_record_from_json(const Json& j);

}  // namespace nexus::oci
