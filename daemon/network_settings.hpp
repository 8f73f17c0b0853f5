// SPDX-License-Identifier: Apache-2.0
// NetworkSettings: what a sandbox's network may do, as the user asked for it (native API,
// CLI flags, E2B's `network` object) and as it is kept in the sandbox record. The rules the
// policy backend enforces and the gateway's view are derived from it (ruleset()).
#pragma once

#include <string>
#include <vector>

#include "common/json.hpp"
#include "common/result.hpp"
#include "net/policy.hpp"
#include "net/sandbox_network.hpp"

namespace nexus::daemon {

struct NetworkSettings {
  bool enabled = true;                  ///< false: loopback only (`--network none`)
  std::vector<net::Rule> rules;         ///< the user's L3/L4 rules (netpolicy, CIDR allow/deny-out)
  std::vector<std::string> allow_domains, deny_domains;  ///< for the gateway (HTTP Host, TLS SNI)
  bool default_deny = true;             ///< the private-range default (net::default_deny_rules)
  bool allow_public_traffic = true;     ///< inbound ports without the traffic access token
  Json inject = Json::object();         ///< E2B network.rules: {host: [{transform: {headers}}]}
};

/// The stored form (record.network): {"enabled", "rules", "allow_domains", "deny_domains",
/// "default_deny", "allow_public_traffic", "inject"}; {} is the defaults.
Result<NetworkSettings> settings_from_json(const Json& j);
Json to_json(const NetworkSettings& s);

/// E2B's allowOut / denyOut and the CLI's --allow-out / --deny-out
/// (net::egress::split_e2b_network): CIDRs and bare addresses become rules for every protocol
/// (denies at kOutDenyPriority, allows at kOutAllowPriority, so allows win, E2B's rule),
/// domain patterns go to the gateway's lists. Errc::invalid_argument naming the field, the
/// index and the entry.
Result<void> add_out_entries(NetworkSettings& s, const std::vector<std::string>& allow,
                             const std::vector<std::string>& deny, std::string_view allow_field,
                             std::string_view deny_field);

/// An optional array of strings; null is empty. Errc::invalid_argument naming `field`.
Result<std::vector<std::string>> string_list(const Json& j, std::string_view field);

/// E2B's create/update `network` object: allowOut, denyOut, allowPublicTraffic, rules (header
/// transforms). Fields Nexus does not act on (egressProxy, maskRequestHost, httpsPorts) are an
/// error rather than silently ignored, except null values.
Result<NetworkSettings> settings_from_e2b(const Json& network, bool allow_internet_access);

/// Priorities of the rules derived from out entries: allows above denies, both above the
/// private-range default.
inline constexpr uint32_t kOutAllowPriority = 900;
inline constexpr uint32_t kOutDenyPriority = 1000;
/// Priority of the rules nexusd adds for the sandbox's own DNS and the gateway ports.
inline constexpr uint32_t kSystemPriority = 0;

/// What the policy backend enforces: above everything, DNS (udp/tcp 53) to the sandbox's
/// gateway address and tcp 80/443 anywhere (steered to the egress gateway, which applies the
/// domains and these same rules); then the user's rules; then the private-range default.
net::RuleSet ruleset(const NetworkSettings& s, const net::SandboxAddresses& addresses);

/// The user's rules only (for the gateway's CIDR decision): the steering allows left out.
net::RuleSet user_ruleset(const NetworkSettings& s);

}  // namespace nexus::daemon
