// SPDX-License-Identifier: Apache-2.0
// One image pull, start to finish, on a worker thread: fetch into the content store
// (rootfs/oci), then apply the layers into <root>/images/<manifest hex>/rootfs with the
// jail's id shift (rootfs/layer), so a template build can use the tree. Reports progress as
// the JSON events of POST /v1/images/pull (docs/api.md).
//
// Thread affinity: none (blocking); `emit` is called on the calling thread or on one of the
// pull's download threads, never on two at once.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "common/json.hpp"
#include "common/result.hpp"
#include "rootfs/layer/apply.hpp"
#include "rootfs/oci/image_record.hpp"
#include "rootfs/oci/platform.hpp"

namespace nexus::daemon {

struct ImagePullSpec {
  std::string reference;         ///< canonical registry reference (oci::Reference::str())
  oci::Platform platform;
  std::string credentials_file;  ///< read for each pull; "" for none
  std::vector<std::string> insecure_registries;
  std::string root_dir;          ///< the content store's root; trees go to <root>/images/
  rootfs::layer::IdShift shift;
};

struct PulledImage {
  oci::ImageRecord record;
  std::string rootfs;      ///< <root>/images/<manifest hex>/rootfs
  uint64_t size = 0;       ///< bytes of the layer blobs
  bool unpacked_now = false;  ///< false when the tree was already there
};

using PullEventFn = std::function<void(Json event)>;

/// <root>/images/<manifest hex>: the unpacked image (its rootfs/ subdirectory).
std::string image_tree_dir(const std::string& root_dir, const std::string& manifest_digest);

/// Pull and unpack. Errors carry the oci / layer codes (not_found, unauthenticated,
/// protocol, too_large, ...) with context; a failed unpack leaves no tree behind. Stops with
/// ECANCELED soon after `cancel` is set (downloads only; an apply runs to its end).
Result<PulledImage> pull_image(const ImagePullSpec& spec, const std::atomic<bool>* cancel, const PullEventFn& emit);

/// Remove temporaries (<root>/images/.tmp-*) an interrupted nexusd left behind.
void clean_image_temporaries(const std::string& root_dir);

}  // namespace nexus::daemon
