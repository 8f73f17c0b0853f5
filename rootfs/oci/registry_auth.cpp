// SPDX-License-Identifier: Apache-2.0
// RegistryClient's authentication: the token dance and the per-scope header cache.
#include <fmt/format.h>

#include "common/strings.hpp"
#include "rootfs/oci/reference.hpp"
#include "rootfs/oci/registry_client.hpp"

namespace nexus::oci {

namespace {

constexpr size_t kMaxTokenReply = 1 << 20;

// The host[:port] of an http(s) URL, or "" when it is not one.
std::string url_host(std::string_view url, bool* https) {
  std::string_view rest;
  if (starts_with(url, "https://")) {
    *https = true;
    rest = url.substr(8);
  } else if (starts_with(url, "http://")) {
    *https = false;
    rest = url.substr(7);
  } else {
    return {};
  }
  return std::string(rest.substr(0, rest.find_first_of("/?#")));
}

}  // namespace

std::optional<std::string> RegistryClient::cached_auth(const std::string& scope) {
  std::lock_guard lock(mu_);
  auto it = auth_header_.find(scope);
  if (it == auth_header_.end()) return std::nullopt;
  return it->second;
}

Result<void> RegistryClient::authenticate(HttpSession& session, const Challenge& c, const std::string& scope,
                                          const StopCheck& stop) {
  const auto& cred = options_.credential;
  if (c.scheme == "basic") {
    if (!cred)
      return fail(Errc::unauthenticated,
                  fmt::format("{} requires a username and password (Basic) and none are configured", host_));
    std::lock_guard lock(mu_);
    auth_header_[scope] = "Authorization: Basic " + base64_encode(cred->username + ":" + cred->password);
    return {};
  }
  if (c.scheme != "bearer")
    return fail(Errc::protocol, fmt::format("{} asks for unsupported authentication scheme '{}'", host_, c.scheme));

  std::string realm = c.param("realm");
  bool https = false;
  std::string realm_host = url_host(realm, &https);
  if (realm_host.empty())
    return fail(Errc::protocol, fmt::format("{}: token realm '{}' is not an http(s) URL", host_, realm));
  if (!https && !options_.plain_http && !is_loopback_host(realm_host))
    return fail(Errc::protocol,
                fmt::format("{}: refusing a plain-http token realm ({}) for an https registry", host_, realm_host));
  std::string want_scope = c.param("scope").empty() ? scope : c.param("scope");
  std::string url = token_url(realm, c.param("service"), want_scope);

  std::string body;
  BodySink sink{[&](const HttpResponse&) -> Result<void> {
                  body.clear();
                  return {};
                },
                [&](std::string_view chunk) -> Result<void> {
                  if (body.size() + chunk.size() > kMaxTokenReply)
                    return fail(Errc::too_large, "token reply is too large");
                  body.append(chunk);
                  return {};
                }};
  auto make = [&] {
    HttpRequest req;
    req.url = url;
    req.https_only_redirects = https;
    if (cred) req.headers.push_back("Authorization: Basic " + base64_encode(cred->username + ":" + cred->password));
    return req;
  };
  auto resp = send_with_retries(session, make, sink, stop);
  if (!resp) return fail(std::move(resp).error().wrap(fmt::format("token server {}", realm_host)));
  if (resp->status == 401 || resp->status == 403) {
    return fail(Errc::unauthenticated,
                cred ? fmt::format("the token server {} refused the credentials configured for {}", realm_host, host_)
                     : fmt::format("the token server {} refused anonymous access to {}", realm_host, host_));
  }
  if (resp->status != 200)
    return fail(Errc::protocol, fmt::format("token server {} answered {}: {}", realm_host, resp->status,
                                            registry_error_summary(resp->error_body)));
  auto token = parse_token_reply(body);
  if (!token) return fail(std::move(token).error().wrap(fmt::format("token server {}", realm_host)));
  std::lock_guard lock(mu_);
  auth_header_[scope] = "Authorization: Bearer " + *token;
  return {};
}

}  // namespace nexus::oci
