// SPDX-License-Identifier: Apache-2.0
// Auth: API keys (created, verified, listed, revoked; stored as SHA-256 hashes) and the
// principal behind a request, from an API key (E2B endpoint) or a Unix peer (native API).
//
// Thread affinity: the daemon loop thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "daemon/sandbox_record.hpp"
#include "daemon/store.hpp"

namespace nexus::daemon {

/// Who is asking. Sandboxes belong to `user`; an admin sees and manages all of them.
struct Principal {
  std::string user;
  bool admin = false;
};

/// The principal of a Unix-socket peer: uid 0 is the admin "root", others their login name.
Principal principal_for_uid(uint32_t uid);
/// Whether `p` may see and act on sandbox `r`.
bool can_access(const Principal& p, const SandboxRecord& r);
/// A user name as accepted for keys and owners: [a-z_][a-z0-9_.-]{0,31}.
bool valid_user_name(std::string_view name);

/// The sandbox's traffic access token (E2B's trafficAccessToken, which the code-interpreter
/// SDK sends on every request to port 49999): derived from its envd access token with
/// HMAC-SHA256, so it needs no storage and reveals nothing of the access token. Empty for an
/// empty access token.
std::string traffic_token_for(std::string_view access_token);

/// The signature of a signed /files URL (e2b-protocol.md B.4, what the SDK's uploadUrl() and
/// downloadUrl() compute): "v1_" + base64(sha256("<path>:<op>:<user>:<token>[:<expiration>]"))
/// without padding; `op` is "read" or "write", `path` the caller's unresolved string.
std::string file_signature(std::string_view path, std::string_view op, std::string_view user,
                           std::string_view access_token, std::optional<int64_t> expiration);

class KeyService {
 public:
  explicit KeyService(Store& store) : store_(store) {}

  struct NewKey {
    ApiKeyRecord record;
    std::string secret;  ///< shown once; only its hash is stored
  };
  Result<NewKey> create(const std::string& user, bool admin, const std::string& name);
  /// The principal behind a secret; unauthenticated for an unknown or revoked key.
  Result<Principal> verify(std::string_view secret);
  Result<std::vector<ApiKeyRecord>> list() { return store_.list_keys(); }
  Result<ApiKeyRecord> revoke(const std::string& id);

 private:
  Store& store_;
};

}  // namespace nexus::daemon
