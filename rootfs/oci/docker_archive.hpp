// SPDX-License-Identifier: Apache-2.0
// Import a `docker save` archive: a tar (optionally compressed) with manifest.json naming the
// config file and the layer tars, in the legacy layout (<id>/layer.tar, symlinks for shared
// layers) or Docker 25's (blobs/sha256/<hex>). The first image of manifest.json is imported.
//
// The config and layers are streamed into the content store (their digests computed on the
// way), uncompressed layers are checked against the config's diff_ids, and an OCI image
// manifest is written for them, so the record looks like one from a registry. Names from the
// archive are only matched against each other, never used as paths.
#pragma once

#include <string>

#include "common/result.hpp"
#include "rootfs/oci/content_store.hpp"
#include "rootfs/oci/image_record.hpp"
#include "rootfs/oci/progress.hpp"

namespace nexus::oci {

/// The record's reference is "docker-archive:<path>".
Result<ImageRecord> import_docker_archive(const std::string& path, const ContentStore& store,
                                          const ProgressFn& progress = {});

}  // namespace nexus::oci
