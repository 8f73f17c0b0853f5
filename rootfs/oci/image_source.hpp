// SPDX-License-Identifier: Apache-2.0
// Internal: where an image's documents and blobs come from (a registry, an OCI layout), and
// the walk shared by all of them: root document -> index -> platform -> manifest -> config
// -> layers, everything into the store.
#pragma once

#include <functional>
#include <string>

#include "common/result.hpp"
#include "rootfs/oci/content_store.hpp"
#include "rootfs/oci/image_record.hpp"
#include "rootfs/oci/manifest.hpp"
#include "rootfs/oci/progress.hpp"
#include "rootfs/oci/registry_client.hpp"

namespace nexus::oci {

class ImageSource {
 public:
  virtual ~ImageSource() = default;
  /// The document the reference names (a manifest or an index).
  virtual Result<FetchedManifest> root(const StopCheck& stop) = 0;
  /// A manifest or index named by an index entry; verified against its digest.
  virtual Result<FetchedManifest> manifest(const Descriptor& d, const StopCheck& stop) = 0;
  /// A blob into the store, verified. Called from several threads at once.
  virtual Result<void> fetch_blob(const Descriptor& d, const ContentStore& store,
                                  const std::function<void(uint64_t)>& on_bytes, const StopCheck& stop) = 0;
};

struct ResolveOptions {
  Platform platform;
  size_t parallel_layers = 3;
  const std::atomic<bool>* cancel = nullptr;
};

Result<ImageRecord> resolve_image(ImageSource& source, std::string reference, const ResolveOptions& options,
                                  const ContentStore& store, const ProgressFn& progress);

}  // namespace nexus::oci
