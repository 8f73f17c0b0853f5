// SPDX-License-Identifier: Apache-2.0
#include "rootfs/oci/media_types.hpp"

namespace nexus::oci::media {

bool is_index(std::string_view t) { return t == kOciIndex || t == kDockerList; }
bool is_manifest(std::string_view t) { return t == kOciManifest || t == kDockerManifest; }
bool is_config(std::string_view t) { return t == kOciConfig || t == kDockerConfig; }

bool is_layer(std::string_view t) {
  return t == kOciLayer || t == kOciLayerGzip || t == kOciLayerZstd || t == kOciLayerNondistGzip || t == kDockerLayer ||
         t == kDockerLayerGzip || t == kDockerForeignLayerGzip;
}

}  // namespace nexus::oci::media
