// SPDX-License-Identifier: Apache-2.0
// Image references: "[host[:port]/]repo/path[:tag][@sha256:<hex>]", with Docker Hub's
// defaults (no host -> docker.io, a one-component name on docker.io -> library/<name>, no tag
// and no digest -> latest). Validation follows the distribution reference grammar; every error
// is Errc::invalid_argument naming the part that was wrong.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "rootfs/oci/digest.hpp"

namespace nexus::oci {

struct Reference {
  std::string registry;    ///< "docker.io", "ghcr.io", "127.0.0.1:5000", "[::1]:5000"
  std::string repository;  ///< "library/debian", "org/team/app"
  std::string tag;         ///< "latest" when neither tag nor digest was given; may be empty
  std::optional<Digest> digest;

  /// The host[:port] the distribution API is served on ("registry-1.docker.io" for docker.io).
  std::string api_host() const;
  /// What a manifest GET asks for: the digest when there is one, else the tag.
  std::string manifest_ref() const;
  /// Canonical text: "docker.io/library/debian:12", "host:5000/a/b@sha256:...".
  std::string str() const;
};

Result<Reference> parse_reference(std::string_view text);

/// True for "localhost", 127.0.0.0/8 and [::1], with or without a port: registries there are
/// spoken to over plain http by default.
bool is_loopback_host(std::string_view host_port);

}  // namespace nexus::oci
