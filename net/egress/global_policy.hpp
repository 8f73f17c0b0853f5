// SPDX-License-Identifier: Apache-2.0
// The gateway's global policy (`nexus egress policy set --allow ... --deny ... --inject ...`,
// `/v1/egress/policies`): {"allow": [...], "deny": [...], "inject": [{"host", "header",
// "provider"}]}.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/json.hpp"
#include "common/result.hpp"
#include "net/egress/domain.hpp"
#include "net/egress/inject.hpp"
#include "net/policy.hpp"

namespace nexus::net::egress {

struct GlobalPolicy {
  DomainLayer domains;
  std::vector<InjectRule> inject;
};

/// Unknown fields and wrong types are errors naming the field ("allow[1]: ...",
/// "inject[0].provider: ..."). Missing fields are empty lists.
Result<GlobalPolicy> global_policy_from_json(const Json& j);
Json to_json(const GlobalPolicy& p);

/// The CLI's words: --allow and --deny take comma-separated patterns, --inject one
/// `host:Header=provider` each.
Result<GlobalPolicy> global_policy_from_args(const std::vector<std::string>& allow,
                                             const std::vector<std::string>& deny,
                                             const std::vector<std::string>& inject);

/// A sandbox's domain layer from E2B's allowOut/denyOut (and the CLI's --allow-out and
/// --deny-out), which mix CIDRs and domains: an entry shaped like an address (a '/', a ':' or
/// a last character that is a digit) must parse as a CIDR or IP address and is left to the
/// RuleSet (`cidrs_allow`/`cidrs_deny`); the rest must be domain patterns. Errors name the
/// field, the index and the entry ("denyOut[0] '300.1.2.3': ...").
struct SplitE2bNetwork {
  DomainLayer domains;
  std::vector<Cidr> cidrs_allow, cidrs_deny;
};
Result<SplitE2bNetwork> split_e2b_network(const std::vector<std::string>& allow_out,
                                          const std::vector<std::string>& deny_out,
                                          std::string_view allow_field = "allowOut",
                                          std::string_view deny_field = "denyOut");

}  // namespace nexus::net::egress
