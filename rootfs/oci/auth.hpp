// SPDX-License-Identifier: Apache-2.0
// Registry authentication pieces: WWW-Authenticate challenges, the token server's reply,
// and the credentials file.
//
// Credentials file (JSON, mode 0600 advised; secrets are never put in errors):
//   {"registries": {"ghcr.io": {"username": "me", "password": "token"},
//                   "127.0.0.1:5000": {"username": "u", "password": "p"}}}
// Keys are the registry as written in references ("docker.io" for Docker Hub).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace nexus::oci {

/// One challenge of a WWW-Authenticate header (RFC 7235): scheme lowercased, parameter names
/// lowercased, values unquoted.
struct Challenge {
  std::string scheme;  ///< "bearer", "basic"
  std::map<std::string, std::string> params;

  std::string param(const std::string& key) const {
    auto it = params.find(key);
    return it == params.end() ? std::string() : it->second;
  }
};

/// All challenges in a header value; malformed input is Errc::protocol.
Result<std::vector<Challenge>> parse_www_authenticate(std::string_view header);

/// The token from a token server's JSON reply: "token", else "access_token".
Result<std::string> parse_token_reply(std::string_view body);

/// "realm?service=...&scope=..." with both values percent-encoded (empty ones left out).
std::string token_url(const std::string& realm, const std::string& service, const std::string& scope);

struct Credential {
  std::string username;
  std::string password;
};

class Credentials {
 public:
  /// Parse a credentials file (bounded at 1 MiB). A missing file is Errc::not_found.
  static Result<Credentials> load(const std::string& path);
  static Result<Credentials> parse(std::string_view json_text);

  std::optional<Credential> find(const std::string& registry) const;
  void set(const std::string& registry, Credential c) { by_registry_[registry] = std::move(c); }

 private:
  std::map<std::string, Credential> by_registry_;
};

}  // namespace nexus::oci
