// SPDX-License-Identifier: Apache-2.0
// A client for one registry's OCI distribution API (GET /v2/, manifests, blobs) over libcurl.
//
// Authentication follows WWW-Authenticate: anonymous until a 401; then Bearer (a token from
// the challenge's realm for its service and the repository's pull scope, asked with the
// configured username/password as Basic credentials when there are any) or Basic. Tokens are
// cached per scope and fetched again once when they stop working. Secrets never appear in
// errors.
//
// Transient failures (connection refused/reset, timeouts, a body cut short, 408, 429, 5xx)
// are retried with exponential backoff; other 4xx are not. A blob download that breaks off
// resumes from the partial file with an HTTP Range request.
//
// Errors: unknown repository/tag/blob -> Errc::not_found; 401 after authenticating, or
// credentials refused by the token server -> Errc::unauthenticated; 403 ->
// Errc::permission_denied; digest mismatch -> Errc::protocol; bodies past their bound ->
// Errc::too_large; retries exhausted -> Errc::unavailable; cancelled -> ECANCELED.
//
// Thread-safety: get_manifest() and fetch_blob() may be called from several threads at once
// (each call uses its own connection); the token cache is shared.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "common/result.hpp"
#include "rootfs/oci/auth.hpp"
#include "rootfs/oci/content_store.hpp"
#include "rootfs/oci/digest.hpp"
#include "rootfs/oci/http_transport.hpp"
#include "rootfs/oci/manifest.hpp"
#include "rootfs/oci/progress.hpp"

namespace nexus::oci {

struct RetryPolicy {
  int max_attempts = 5;  ///< per request, the first try included
  std::chrono::milliseconds initial_delay{250};
  std::chrono::milliseconds max_delay{8000};
};

struct RegistryOptions {
  std::optional<Credential> credential;
  bool plain_http = false;  ///< http:// instead of https:// (loopback or insecure registries)
  RetryPolicy retry;
  TransferLimits limits;
};

struct FetchedManifest {
  std::string body;
  std::string content_type;
  Digest digest;  ///< of body
};

class RegistryClient {
 public:
  /// `host` is host[:port] of the API (Reference::api_host()).
  RegistryClient(std::string host, RegistryOptions options);

  /// GET /v2/: checks the registry answers, and learns its authentication challenge.
  Result<void> ping(const StopCheck& stop = {});

  /// A manifest or index by tag or digest (bounded by limits::kMaxManifestBytes). When `ref`
  /// is a digest the body is verified against it.
  Result<FetchedManifest> get_manifest(const std::string& repository, const std::string& ref,
                                       const StopCheck& stop = {});

  /// Download a blob into `store`, verified against `d.digest` and `d.size`. `on_bytes`
  /// (may be empty) gets the running byte count, the resumed part included.
  Result<void> fetch_blob(const std::string& repository, const Descriptor& d, const ContentStore& store,
                          const std::function<void(uint64_t)>& on_bytes, const StopCheck& stop = {});

  /// How many HTTP requests this client sent (token requests included): for tests.
  size_t requests_sent() const;

 private:
  Result<HttpResponse> request(HttpSession& session, const std::string& path, const std::string& scope,
                               std::vector<std::string> headers, const BodySink& sink,
                               const std::function<void(HttpRequest&)>& prepare, const StopCheck& stop);
  Result<HttpResponse> send_with_retries(HttpSession& session, const std::function<HttpRequest()>& make,
                                         const BodySink& sink, const StopCheck& stop);
  Result<void> authenticate(HttpSession& session, const Challenge& c, const std::string& scope, const StopCheck& stop);
  std::optional<std::string> cached_auth(const std::string& scope);
  std::string base_url() const;

  std::string host_;
  RegistryOptions options_;
  mutable std::mutex mu_;
  std::optional<Challenge> challenge_;              // guarded by mu_
  std::map<std::string, std::string> auth_header_;  // scope -> "Authorization: ...", guarded by mu_
  size_t requests_ = 0;                             // guarded by mu_
};

/// Whether an HTTP status is worth retrying (408, 429, 5xx but 501/505).
bool transient_status(long status);
/// The wait before retry number `attempt` (0-based): initial * 2^attempt, capped, jittered.
std::chrono::milliseconds backoff_delay(const RetryPolicy& p, int attempt);

}  // namespace nexus::oci
