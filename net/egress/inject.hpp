// SPDX-License-Identifier: Apache-2.0
// Credential injection rules: "for requests to this host, set this header to the value this
// provider gives". Providers: a file's contents, an environment variable of nexusd, the
// stdout of a command (no shell, with a timeout), or a literal (E2B's per-sandbox
// `network.rules`). Values are secrets: no error message, log or audit entry contains one.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.hpp"
#include "common/result.hpp"
#include "net/egress/domain.hpp"

namespace nexus::net::egress {

inline constexpr size_t kMaxHeaderValue = 8 * 1024;
inline constexpr size_t kMaxInjectRules = 256;

struct Provider {
  enum class Kind { file, env, command, literal };
  Kind kind = Kind::literal;
  std::string path;                 ///< file: the path; command: the program
  std::vector<std::string> args;    ///< command: its arguments (split on spaces, no shell)
  std::string name;                 ///< env: the variable
  std::string literal;              ///< literal: the value itself (a secret)

  /// "file:/abs/path", "env:NAME", "command:/abs/prog arg1 arg2". Errc::invalid_argument
  /// naming the provider otherwise. Literals are not parsed from text (they come only from
  /// E2B's rules), so a typo cannot turn a path into a value.
  static Result<Provider> parse(std::string_view text);
  /// The provider as text; a literal shows as "literal" (never its value).
  std::string to_string() const;
};

struct InjectRule {
  DomainPattern host;  ///< `api.example.com` or `*.example.com`
  std::string header;  ///< an HTTP token (validated)
  Provider provider;
};

/// Whether `name` is a valid HTTP header name (an RFC 9110 token).
bool valid_header_name(std::string_view name);

/// `host:Header=provider`, e.g. `api.openai.com:Authorization=file:/etc/nexus/secrets/openai`.
Result<InjectRule> parse_inject_spec(std::string_view text);
std::string to_spec(const InjectRule& rule);

/// {"host", "header", "provider"}; errors name the field.
Result<InjectRule> inject_rule_from_json(const Json& j, std::string_view where);
Json to_json(const InjectRule& rule);

/// E2B's `network.rules`: {"api.example.com": [{"transform": {"headers": {"X-Key": "v"}}}]}
/// with literal values. Errors name the host and header (never the value).
Result<std::vector<InjectRule>> inject_rules_from_e2b(const Json& rules);

/// The rules (sandbox rules first, then global) whose host matches `host` (normalized).
std::vector<const InjectRule*> matching_rules(const std::vector<InjectRule>& sandbox,
                                              const std::vector<InjectRule>& global,
                                              std::string_view host);

/// Reads provider values, caching each for `ttl` so a burst of requests does not run a
/// command per request. Thread-safe. get() may block (a command runs up to the timeout):
/// call it off the event loop.
class CredentialCache {
 public:
  explicit CredentialCache(std::chrono::milliseconds ttl = std::chrono::seconds(30),
                           std::chrono::milliseconds command_timeout = std::chrono::seconds(5));
  /// The value, trailing newlines (and CR) stripped. Fails (Errc::unavailable naming the
  /// provider, not the value) when the source is missing, empty, too long or holds a CR, LF
  /// or NUL inside (a header value must not be able to start another header).
  Result<std::string> get(const Provider& p);
  void clear();

 private:
  struct Entry {
    std::string value;
    std::chrono::steady_clock::time_point expires;
  };
  std::chrono::milliseconds ttl_, command_timeout_;
  std::mutex mu_;
  std::map<std::string, Entry> cache_;
};

}  // namespace nexus::net::egress
