// SPDX-License-Identifier: Apache-2.0
// L3/L4 policy rules: the model, parsing (JSON and CLI-style text), validation and the
// default-deny set. Backend-independent: the eBPF loader (ebpf_policy.hpp) and, later, the
// nftables fallback take the same RuleSet.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.hpp"
#include "common/result.hpp"

namespace nexus::net {

/// From the sandbox's point of view: egress = the sandbox sends, ingress = it receives.
enum class Direction : uint8_t { egress = 0, ingress = 1 };
enum class Protocol : uint8_t { any, tcp, udp, icmp };
enum class Action : uint8_t { allow = 0, deny = 1 };

std::string_view to_string(Direction d);
std::string_view to_string(Protocol p);
std::string_view to_string(Action a);

/// An IPv4 or IPv6 network. `addr` holds the network address with the host bits cleared
/// (the first 4 bytes for IPv4).
struct Cidr {
  int family = 4;  ///< 4 or 6
  std::array<uint8_t, 16> addr{};
  uint8_t prefix_len = 0;

  /// "10.0.0.0/8", "2001:db8::/32"; a bare address is a host route (/32, /128). Host bits set
  /// ("10.0.0.1/8") are an error: the rule would not mean what it says.
  static Result<Cidr> parse(std::string_view text);
  std::string to_string() const;
  int max_len() const { return family == 4 ? 32 : 128; }
  /// Whether `other` lies within this network (same family, longer or equal prefix).
  bool contains(const Cidr& other) const;
  /// Whether the address (4 or 16 bytes in network order, by family) lies within.
  bool contains_address(int fam, const uint8_t* address) const;
  bool operator==(const Cidr&) const = default;
};

/// An inclusive destination port range. 0-65535 means any port.
struct PortRange {
  uint16_t lo = 0;
  uint16_t hi = 65535;
  /// "5432", "8000-8100", "any" or "" (any). Ports are 1-65535.
  static Result<PortRange> parse(std::string_view text);
  bool is_any() const { return lo == 0 && hi == 65535; }
  std::string to_string() const;  ///< "any", "5432", "8000-8100"
  bool operator==(const PortRange&) const = default;
};

inline constexpr uint32_t kMaxPriority = 65535;
/// Priority of a rule that does not give one.
inline constexpr uint32_t kDefaultPriority = 1000;
/// Priority of the default-deny rules: user rules with a lower number win over them.
inline constexpr uint32_t kDefaultDenyPriority = 50000;
inline constexpr size_t kMaxIdLength = 64;

struct Rule {
  std::string id;  ///< [A-Za-z0-9._:-], at most 64 characters, unique in a rule set
  Direction direction = Direction::egress;
  Cidr cidr;
  Protocol protocol = Protocol::any;
  PortRange ports;  ///< tcp and udp only; any for icmp and any
  Action action = Action::deny;
  uint32_t priority = kDefaultPriority;  ///< lower is checked first; on a tie deny wins
  bool operator==(const Rule&) const = default;
};

/// Errc::invalid_argument naming the field and the value when a rule is inconsistent.
Result<void> validate(const Rule& rule);

/// {"id", "direction", "cidr", "protocol", "ports", "action", "priority"}: direction, cidr and
/// action are required; protocol defaults to any, ports to any, priority to 1000. `ports` may
/// be a string ("8000-8100") or a number. Unknown fields are errors (a typo must not widen a
/// rule). A missing id becomes "rule-<index>" (index = position in the list, from 1).
Result<Rule> rule_from_json(const Json& j, size_t index = 0);
Json to_json(const Rule& rule);

/// CLI-style text: "--direction egress --cidr 10.0.0.0/8 --proto tcp --ports 5432
/// --action allow [--priority 10] [--id db]", or the same as key=value words
/// ("direction=egress cidr=10.0.0.0/8 ..."). `proto` and `protocol` are the same key.
Result<Rule> parse_rule_text(std::string_view text, size_t index = 0);
std::string to_text(const Rule& rule);

/// The default-deny rules (egress only, priority kDefaultDenyPriority): loopback, RFC 1918,
/// CGNAT 100.64/10, link-local 169.254/16 (with the 169.254.169.254 metadata address), "this
/// network" 0/8, multicast 224/4, reserved 240/4 (with broadcast); IPv6 ::1, ::/128,
/// IPv4-mapped ::ffff:0:0/96, ULA fc00::/7, link-local fe80::/10, multicast ff00::/8.
const std::vector<Rule>& default_deny_rules();

/// What a sandbox is given: the user's rules, the default-deny set (unless turned off) and
/// each direction's action when no rule matches.
struct RuleSet {
  std::vector<Rule> rules;
  bool default_deny = true;
  Action egress_default = Action::allow;
  Action ingress_default = Action::deny;
};

/// {"rules": [...], "default_deny": true, "egress_default": "allow", "ingress_default": "deny"}
Result<RuleSet> ruleset_from_json(const Json& j);
Json to_json(const RuleSet& set);

/// The rules a backend enforces, validated (ids unique, at most kMaxRules) and in decision
/// order: priority ascending, deny before allow on a tie, then the order given. The defaults
/// follow the user's rules when enabled.
Result<std::vector<Rule>> effective_rules(const RuleSet& set);
inline constexpr size_t kMaxRules = 256;

}  // namespace nexus::net
