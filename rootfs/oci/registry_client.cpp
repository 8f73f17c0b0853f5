// SPDX-License-Identifier: Apache-2.0
// RegistryClient: requests with retries, manifests, resumable verified blob downloads.
#include "rootfs/oci/registry_client.hpp"

#include <cerrno>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "common/strings.hpp"
#include "rootfs/oci/media_types.hpp"

namespace nexus::oci {

namespace {

std::string pull_scope(const std::string& repository) { return "repository:" + repository + ":pull"; }

Result<void> sleep_unless_stopped(std::chrono::milliseconds d, const StopCheck& stop) {
  auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
    if (stop.stopped()) return fail(Error::from_errno(ECANCELED, "waiting to retry"));
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(d, std::chrono::milliseconds(50)));
  }
  return {};
}

// The error for a final response that is not what was asked for.
Error status_error(const HttpResponse& r, const std::string& what) {
  std::string detail = registry_error_summary(r.error_body);
  std::string msg = fmt::format("{}: HTTP {}{}{}", what, r.status, detail.empty() ? "" : ": ", detail);
  switch (r.status) {
    case 404:
      return Error(Errc::not_found, msg);
    case 401:
      return Error(Errc::unauthenticated, msg);
    case 403:
      return Error(Errc::permission_denied, msg);
    case 400:
      return Error(Errc::invalid_argument, msg);
    default:
      return Error(Errc::protocol, msg);
  }
}

// "bytes START-END/TOTAL" -> START
std::optional<uint64_t> content_range_start(std::string_view v) {
  if (!starts_with(v, "bytes ")) return std::nullopt;
  v.remove_prefix(6);
  auto dash = v.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto n = parse_int(v.substr(0, dash));
  if (!n || *n < 0) return std::nullopt;
  return static_cast<uint64_t>(*n);
}

}  // namespace

bool transient_status(long s) { return s == 408 || s == 429 || (s >= 500 && s != 501 && s != 505); }

std::chrono::milliseconds backoff_delay(const RetryPolicy& p, int attempt) {
  auto d = p.initial_delay * (1LL << std::min(attempt, 20));
  if (d > p.max_delay) d = p.max_delay;
  thread_local std::minstd_rand rng(std::random_device{}());
  auto jitter = d.count() / 4 > 0 ? static_cast<long long>(rng() % static_cast<unsigned>(d.count() / 4)) : 0;
  return std::chrono::milliseconds(d.count() - jitter);
}

RegistryClient::RegistryClient(std::string host, RegistryOptions options)
    : host_(std::move(host)), options_(std::move(options)) {}

std::string RegistryClient::base_url() const { return (options_.plain_http ? "http://" : "https://") + host_ + "/v2"; }

size_t RegistryClient::requests_sent() const {
  std::lock_guard lock(mu_);
  return requests_;
}

Result<HttpResponse> RegistryClient::send_with_retries(HttpSession& session, const std::function<HttpRequest()>& make,
                                                       const BodySink& sink, const StopCheck& stop) {
  const int max_attempts = std::max(1, options_.retry.max_attempts);
  for (int attempt = 0;; ++attempt) {
    HttpRequest req = make();
    {
      std::lock_guard lock(mu_);
      ++requests_;
    }
    auto r = session.perform(req, sink, stop);
    const bool last = attempt + 1 >= max_attempts;
    auto delay = backoff_delay(options_.retry, attempt);
    if (!r) {
      if (!r.error().transient) return fail(std::move(r.error().error));
      if (last) return fail(std::move(r.error().error).wrap(fmt::format("giving up after {} attempts", attempt + 1)));
    } else if (transient_status(r->status)) {
      if (last)
        return fail(Errc::unavailable, fmt::format("{} answered HTTP {} {} times: {}", req.url, r->status, attempt + 1,
                                                   registry_error_summary(r->error_body)));
      if (auto after = parse_int(r->header("retry-after")); r->status == 429 && after && *after >= 0)
        delay = std::min<std::chrono::milliseconds>(std::chrono::seconds(*after), options_.retry.max_delay);
    } else {
      return std::move(*r);
    }
    NEXUS_TRY(sleep_unless_stopped(delay, stop));
  }
}

Result<HttpResponse> RegistryClient::request(HttpSession& session, const std::string& path, const std::string& scope,
                                             std::vector<std::string> headers, const BodySink& sink,
                                             const std::function<void(HttpRequest&)>& prepare, const StopCheck& stop) {
  bool authenticated = false;
  std::optional<Challenge> known;
  {
    std::lock_guard lock(mu_);
    known = challenge_;
  }
  // The registry's challenge is known from ping(): authenticate before the first try.
  if (known && !cached_auth(scope)) {
    NEXUS_TRY(authenticate(session, *known, scope, stop));
    authenticated = true;
  }
  auto make = [&] {
    HttpRequest req;
    req.url = base_url() + path;
    req.headers = headers;
    req.https_only_redirects = !options_.plain_http;
    if (auto a = cached_auth(scope)) req.headers.push_back(*a);
    if (prepare) prepare(req);
    return req;
  };
  for (;;) {
    auto resp = send_with_retries(session, make, sink, stop);
    if (!resp || resp->status != 401) return resp;
    if (authenticated) {
      return fail(Errc::unauthenticated,
                  fmt::format("{}: not authorized for {} ({}): {}", host_, scope,
                              options_.credential ? "the configured credentials were not accepted"
                                                  : "no credentials configured",
                              registry_error_summary(resp->error_body)));
    }
    auto challenges = parse_www_authenticate(resp->header("www-authenticate"));
    if (!challenges) return fail(Errc::unauthenticated, fmt::format("{}: HTTP 401 without a usable challenge", host_));
    const Challenge* pick = nullptr;
    for (const auto& c : *challenges)
      if (c.scheme == "bearer" || (c.scheme == "basic" && !pick)) pick = &c;
    if (!pick) pick = &challenges->front();
    {
      std::lock_guard lock(mu_);
      challenge_ = *pick;
    }
    NEXUS_TRY(authenticate(session, *pick, scope, stop));
    authenticated = true;
  }
}

Result<void> RegistryClient::ping(const StopCheck& stop) {
  HttpSession session(options_.limits);
  BodySink sink{{}, [](std::string_view) -> Result<void> { return {}; }};
  auto make = [&] {
    HttpRequest req;
    req.url = base_url() + "/";
    req.https_only_redirects = !options_.plain_http;
    return req;
  };
  auto resp = send_with_retries(session, make, sink, stop);
  if (!resp) return fail(std::move(resp).error().wrap("registry " + host_));
  if (resp->status == 200) return {};
  if (resp->status == 401) {
    auto challenges = parse_www_authenticate(resp->header("www-authenticate"));
    if (!challenges) return fail(std::move(challenges).error().wrap("registry " + host_));
    std::lock_guard lock(mu_);
    challenge_ = challenges->front();
    for (const auto& c : *challenges)
      if (c.scheme == "bearer") challenge_ = c;
    return {};
  }
  return fail(status_error(*resp, fmt::format("registry {}: GET /v2/ (is it an OCI registry?)", host_)));
}

Result<FetchedManifest> RegistryClient::get_manifest(const std::string& repository, const std::string& ref,
                                                     const StopCheck& stop) {
  HttpSession session(options_.limits);
  FetchedManifest out;
  BodySink sink{[&](const HttpResponse& r) -> Result<void> {
                  out.body.clear();
                  out.content_type = r.header("content-type");
                  return {};
                },
                [&](std::string_view chunk) -> Result<void> {
                  if (out.body.size() + chunk.size() > limits::kMaxManifestBytes)
                    return fail(Errc::too_large,
                                fmt::format("manifest is larger than {} bytes", limits::kMaxManifestBytes));
                  out.body.append(chunk);
                  return {};
                }};
  std::string what = fmt::format("manifest {}/{}:{}", host_, repository, ref);
  auto resp = request(session, "/" + repository + "/manifests/" + ref, pull_scope(repository),
                      {"Accept: " + std::string(media::kManifestAccept)}, sink, {}, stop);
  if (!resp) return fail(std::move(resp).error().wrap(what));
  if (resp->status != 200) return fail(status_error(*resp, what));
  out.digest = sha256_of(out.body);
  if (auto want = parse_digest(ref); want && *want != out.digest)
    return fail(Errc::protocol, fmt::format("{}: digest mismatch, the content is {}", what, out.digest.str()));
  if (auto header = parse_digest(resp->header("docker-content-digest")); header && *header != out.digest)
    return fail(Errc::protocol,
                fmt::format("{}: the registry says {} but the content is {}", what, header->str(), out.digest.str()));
  return out;
}

Result<void> RegistryClient::fetch_blob(const std::string& repository, const Descriptor& d, const ContentStore& store,
                                        const std::function<void(uint64_t)>& on_bytes, const StopCheck& stop) {
  const std::string what = fmt::format("blob {} of {}/{}", d.digest.str(), host_, repository);
  if (store.has(d.digest)) return {};
  auto w = store.writer(d.digest, d.size);
  if (!w) return fail(std::move(w).error().wrap(what));
  if (d.size == 0 || w->offset() < d.size) {
    HttpSession session(options_.limits);
    BodySink sink{[&](const HttpResponse& r) -> Result<void> {
                    if (r.status == 206) {
                      auto start = content_range_start(r.header("content-range"));
                      if (!start || *start != w->offset())
                        return fail(Errc::protocol, fmt::format("asked for bytes from {}, got range '{}'", w->offset(),
                                                                r.header("content-range")));
                      return {};
                    }
                    return w->offset() > 0 ? w->restart() : Result<void>{};
                  },
                  [&](std::string_view chunk) -> Result<void> {
                    NEXUS_TRY(w->write(chunk));
                    if (on_bytes) on_bytes(w->offset());
                    return {};
                  }};
    auto prepare = [&](HttpRequest& req) { req.range_from = w->offset(); };
    for (int round = 0;; ++round) {
      auto resp = request(session, "/" + repository + "/blobs/" + d.digest.str(), pull_scope(repository), {}, sink,
                          prepare, stop);
      if (!resp) return fail(std::move(resp).error().wrap(what));
      if (resp->status == 416 && round == 0) {  // our partial file is no prefix of the blob
        NEXUS_TRY(w->restart());
        continue;
      }
      if (resp->status != 200 && resp->status != 206) return fail(status_error(*resp, what));
      break;
    }
  }
  auto committed = w->commit();
  if (!committed) return fail(std::move(committed).error().wrap(what));
  return {};
}

}  // namespace nexus::oci
