// SPDX-License-Identifier: Apache-2.0
// The media types Nexus understands, and the size limits on documents read from outside.
#pragma once

#include <cstdint>
#include <string_view>

namespace nexus::oci::media {

inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kOciLayer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kOciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view kOciLayerNondistGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";

inline constexpr std::string_view kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerList = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerLayer = "application/vnd.docker.image.rootfs.diff.tar";
inline constexpr std::string_view kDockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr std::string_view kDockerForeignLayerGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
inline constexpr std::string_view kDockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json";
inline constexpr std::string_view kDockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// The Accept header of a manifest GET: every manifest and index type above.
inline constexpr std::string_view kManifestAccept =
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json";

bool is_index(std::string_view media_type);
bool is_manifest(std::string_view media_type);
bool is_config(std::string_view media_type);
/// A layer type a rootfs can be built from (tar, tar+gzip, tar+zstd; OCI or Docker).
bool is_layer(std::string_view media_type);

}  // namespace nexus::oci::media

namespace nexus::oci::limits {

inline constexpr uint64_t kMaxManifestBytes = 4ull << 20;  ///< manifests and indexes
inline constexpr uint64_t kMaxConfigBytes = 8ull << 20;    ///< image configs
inline constexpr size_t kMaxLayers = 512;
inline constexpr size_t kMaxIndexEntries = 1024;

}  // namespace nexus::oci::limits
