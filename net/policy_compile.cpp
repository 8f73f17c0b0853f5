// SPDX-License-Identifier: Apache-2.0
#include "net/policy_compile.hpp"

#include <netinet/in.h>

#include <fmt/format.h>

namespace nexus::net {
namespace {

bool rule_matches_l4(const nx_rule_entry& e, const PacketView& p) {
  if (e.proto != NX_PROTO_ANY && e.proto != p.ip_proto) return false;
  return p.dport >= e.port_lo && p.dport <= e.port_hi;
}

nx_rule_entry entry_for(const Rule& r, size_t index) {
  nx_rule_entry e{};
  e.port_lo = r.ports.lo;
  e.port_hi = r.ports.hi;
  e.proto = ip_protocol(r.protocol, r.cidr.family);
  e.action = r.action == Action::allow ? NX_ACT_ALLOW : NX_ACT_DENY;
  e.index = static_cast<__u16>(index);
  return e;
}

Action default_for(const CompiledPolicy& p, Direction d) {
  return d == Direction::egress ? p.egress_default : p.ingress_default;
}

}  // namespace

uint8_t ip_protocol(Protocol p, int family) {
  switch (p) {
    case Protocol::tcp: return IPPROTO_TCP;
    case Protocol::udp: return IPPROTO_UDP;
    case Protocol::icmp: return static_cast<uint8_t>(family == 4 ? int{IPPROTO_ICMP} : int{IPPROTO_ICMPV6});
    case Protocol::any: break;
  }
  return NX_PROTO_ANY;
}

Result<CompiledPolicy> compile(const RuleSet& set) {
  auto rules = effective_rules(set);
  if (!rules) return fail(std::move(rules.error()));
  CompiledPolicy out;
  out.rules = std::move(*rules);
  out.egress_default = set.egress_default;
  out.ingress_default = set.ingress_default;
  // One entry per distinct (direction, prefix); its list: every rule of that direction whose
  // CIDR contains the prefix, in decision order. The longest prefix containing an address then
  // lists exactly the rules whose CIDR contains the address (CIDRs nest or are disjoint).
  for (const auto& r : out.rules) {
    bool known = false;
    for (const auto& e : out.entries) known |= e.direction == r.direction && e.prefix == r.cidr;
    if (known) continue;
    LpmEntry entry{r.direction, r.cidr, {}};
    for (size_t i = 0; i < out.rules.size(); ++i) {
      const Rule& cover = out.rules[i];
      if (cover.direction == r.direction && cover.cidr.contains(r.cidr))
        entry.rules.push_back(entry_for(cover, i));
    }
    if (entry.rules.size() > NX_MAX_PREFIX_RULES)
      return fail(Errc::too_large,
                  fmt::format("{} {} is covered by {} rules; at most {} may cover one prefix",
                              to_string(r.direction), r.cidr.to_string(), entry.rules.size(),
                              NX_MAX_PREFIX_RULES));
    out.entries.push_back(std::move(entry));
  }
  return out;
}

Verdict evaluate(const CompiledPolicy& policy, const PacketView& p) {
  const LpmEntry* best = nullptr;
  for (const auto& e : policy.entries) {
    if (e.direction != p.direction || !e.prefix.contains_address(p.family, p.remote.data())) continue;
    if (!best || e.prefix.prefix_len > best->prefix.prefix_len) best = &e;
  }
  if (best) {
    for (const auto& r : best->rules)
      if (rule_matches_l4(r, p))
        return {r.action == NX_ACT_ALLOW ? Action::allow : Action::deny, r.index};
  }
  return {default_for(policy, p.direction), -1};
}

Verdict evaluate_linear(const CompiledPolicy& policy, const PacketView& p) {
  for (size_t i = 0; i < policy.rules.size(); ++i) {
    const Rule& r = policy.rules[i];
    if (r.direction != p.direction || !r.cidr.contains_address(p.family, p.remote.data())) continue;
    if (rule_matches_l4(entry_for(r, i), p)) return {r.action, static_cast<int>(i)};
  }
  return {default_for(policy, p.direction), -1};
}

}  // namespace nexus::net
