// SPDX-License-Identifier: Apache-2.0
// pull(): fetch an image into the content store and say what was fetched.
//
// Sources:
//   "[host[:port]/]repo[:tag][@sha256:...]"  a registry (reference.hpp for the defaults)
//   "oci:<dir>[:<ref name>]"                  an OCI image layout directory (oci_layout.hpp)
//   "docker-archive:<file.tar>"               a `docker save` archive (docker_archive.hpp)
// An index / manifest list is resolved to options.platform. The manifest (and index), the
// config and every layer end up in the store, each verified by digest; blobs already there
// are not fetched again. Layers download `parallel_layers` at a time; a download that breaks
// off resumes where it stopped, within this pull or the next one.
//
// Errors (Result): Errc::invalid_argument for a bad reference or an unsupported manifest,
// Errc::not_found for an unknown repository/tag/blob or no image for the platform,
// Errc::unauthenticated / Errc::permission_denied, Errc::protocol for a digest mismatch,
// Errc::too_large, Errc::unavailable when retries ran out, ECANCELED when cancelled.
#pragma once

#include <atomic>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "rootfs/oci/auth.hpp"
#include "rootfs/oci/content_store.hpp"
#include "rootfs/oci/image_record.hpp"
#include "rootfs/oci/platform.hpp"
#include "rootfs/oci/progress.hpp"
#include "rootfs/oci/registry_client.hpp"

namespace nexus::oci {

struct PullOptions {
  Platform platform = host_platform();
  Credentials credentials;                       ///< e.g. Credentials::load(path)
  std::vector<std::string> insecure_registries;  ///< host[:port] spoken to over plain http
  size_t parallel_layers = 3;
  RetryPolicy retry;
  TransferLimits limits;
  const std::atomic<bool>* cancel = nullptr;  ///< set it (any thread) to stop the pull
};

Result<ImageRecord> pull(std::string_view source, const PullOptions& options, const ContentStore& store,
                         const ProgressFn& progress = {});

}  // namespace nexus::oci
