// SPDX-License-Identifier: Apache-2.0
// The image config (OCI image config / Docker container config): what a sandbox made from
// the image starts with, and the uncompressed layer digests (rootfs.diff_ids).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/json.hpp"
#include "common/result.hpp"
#include "rootfs/oci/digest.hpp"
#include "rootfs/oci/platform.hpp"

namespace nexus::oci {

struct ImageConfig {
  Platform platform;
  std::vector<std::string> env;  ///< "KEY=value"
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::string working_dir;
  std::string user;
  std::vector<Digest> diff_ids;  ///< one per layer, of the uncompressed tar
};

/// Parse a config blob (bounded by limits::kMaxConfigBytes). Missing optional fields are
/// empty; a present field of the wrong type is Errc::invalid_argument naming it.
Result<ImageConfig> parse_image_config(std::string_view body);

Json image_config_to_json(const ImageConfig& c);
Result<ImageConfig> image_config_from_json(const Json& j);

}  // namespace nexus::oci
