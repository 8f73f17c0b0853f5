// SPDX-License-Identifier: Apache-2.0
// Signed /files URLs (e2b-protocol.md B.4): the SDK's uploadUrl()/downloadUrl() carry
// `signature` (and optionally `signature_expiration`) instead of the access token.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace nexus::daemon::e2b {

/// "v1_" + base64(sha256("<path>:<op>:<user>:<token>[:<expiration>]")) without padding;
/// `op` is "read" (download) or "write" (upload), `path` the caller's unresolved string.
std::string file_signature(std::string_view path, std::string_view op, std::string_view user,
                           std::string_view access_token, std::optional<int64_t> expiration);

/// Compare without leaking where the strings differ.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace nexus::daemon::e2b
