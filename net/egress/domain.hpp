// SPDX-License-Identifier: Apache-2.0
// Domain rules of the egress gateway: patterns (`api.example.com`, `*.example.com`), lists of
// them, a layer (allow + deny list) and the decision over the sandbox's and the global layer.
// Pure computation, no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace nexus::net::egress {

inline constexpr size_t kMaxDomainLength = 253;
inline constexpr size_t kMaxLabelLength = 63;
/// At most this many patterns in one list (a sandbox's allowOut, the global deny list, ...).
inline constexpr size_t kMaxDomainPatterns = 1024;

/// A host name as the gateway compares it: lower case, no trailing dot, validated as a DNS
/// name (labels of [a-z0-9-_], 1-63 characters, at most 253 in all). Errc::invalid_argument
/// naming the host otherwise. IP literals pass unchanged (lower-cased, IPv6 without brackets).
Result<std::string> normalize_host(std::string_view host);

/// Whether `host` (normalized) is an IPv4 or IPv6 literal.
bool is_ip_literal(std::string_view host);

/// One domain pattern: a bare name matches only itself; `*.name` matches every name below
/// `name` (one or more labels) but not `name` itself.
struct DomainPattern {
  std::string base;  ///< normalized, without the "*." prefix
  bool wildcard = false;

  /// Errc::invalid_argument naming the pattern: empty, empty labels, bad characters, a `*`
  /// anywhere but a leading `*.`, longer than 253 characters.
  static Result<DomainPattern> parse(std::string_view text);
  /// `host` must be normalized (normalize_host).
  bool matches(std::string_view host) const;
  std::string to_string() const { return wildcard ? "*." + base : base; }
  bool operator==(const DomainPattern&) const = default;
};

/// A list of patterns, e.g. a sandbox's allowOut domains.
struct DomainList {
  std::vector<DomainPattern> patterns;

  /// Parses each entry; an error names `field` and the bad entry ("allow[2]: ...").
  static Result<DomainList> parse(const std::vector<std::string>& texts, std::string_view field);
  /// The first pattern matching `host` (normalized), or nullptr.
  const DomainPattern* match(std::string_view host) const;
  bool empty() const { return patterns.empty(); }
  std::vector<std::string> to_strings() const;
};

/// An allow list and a deny list; deny wins within a layer.
struct DomainLayer {
  DomainList allow;
  DomainList deny;
  bool empty() const { return allow.empty() && deny.empty(); }
};

enum class DomainVerdict { none, allow, deny };

struct DomainDecision {
  DomainVerdict verdict = DomainVerdict::none;
  std::string layer;    ///< "sandbox" or "global" when a pattern matched
  std::string pattern;  ///< the pattern that matched
};

/// The sandbox layer first (deny, then allow), then the global layer (deny, then allow).
/// `host` must be normalized. No match: verdict none (the CIDR rules decide).
DomainDecision decide_domain(const DomainLayer& sandbox, const DomainLayer& global,
                             std::string_view host);

}  // namespace nexus::net::egress
