// SPDX-License-Identifier: Apache-2.0
// Import from an OCI image layout directory (oci-layout, index.json, blobs/sha256/<hex>).
//
// `spec` is "<dir>[:<ref name>]": the ref name picks the index.json entry whose
// org.opencontainers.image.ref.name annotation equals it. Without one, a single entry is
// taken as is, several are chosen between by platform. Every blob copied is verified by
// digest and size; the layout's files are found only by validated digests.
#pragma once

#include <atomic>
#include <string_view>

#include "common/result.hpp"
#include "rootfs/oci/content_store.hpp"
#include "rootfs/oci/image_record.hpp"
#include "rootfs/oci/platform.hpp"
#include "rootfs/oci/progress.hpp"

namespace nexus::oci {

struct LayoutImport {
  Platform platform = host_platform();
  size_t parallel_layers = 3;
  const std::atomic<bool>* cancel = nullptr;
};

/// The record's reference is "oci:<spec>".
Result<ImageRecord> import_oci_layout(std::string_view spec, const LayoutImport& options, const ContentStore& store,
                                      const ProgressFn& progress = {});

}  // namespace nexus::oci
