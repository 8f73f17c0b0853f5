// SPDX-License-Identifier: Apache-2.0
// A RuleSet compiled to the eBPF maps' shape: one LPM entry per (direction, rule CIDR), whose
// value lists every rule covering that prefix in decision order. Pure computation, so the
// decision the TC program makes can be checked in unit tests (evaluate() walks the compiled form
// the way the program does; evaluate_linear() is the specification it must agree with).
#pragma once

#include <array>
#include <vector>

#include "net/bpf/policy_abi.h"
#include "net/policy.hpp"

namespace nexus::net {

struct LpmEntry {
  Direction direction;
  Cidr prefix;
  std::vector<nx_rule_entry> rules;  ///< decision order
};

struct CompiledPolicy {
  std::vector<Rule> rules;  ///< effective rules; a rule's index here is its counter slot
  std::vector<LpmEntry> entries;
  Action egress_default = Action::allow;
  Action ingress_default = Action::deny;
};

/// Errc::invalid_argument for a bad rule, Errc::too_large past kMaxRules or when one prefix is
/// covered by more than NX_MAX_PREFIX_RULES rules.
Result<CompiledPolicy> compile(const RuleSet& set);

/// The IP protocol number a rule matches for its family (0 = any).
uint8_t ip_protocol(Protocol p, int family);

/// What the policy sees of a packet: the remote address (destination on egress, source on
/// ingress), the IP protocol and the destination port (0 when there is none).
struct PacketView {
  Direction direction = Direction::egress;
  int family = 4;
  std::array<uint8_t, 16> remote{};
  uint8_t ip_proto = 0;
  uint16_t dport = 0;
};

struct Verdict {
  Action action = Action::deny;
  int rule = -1;  ///< index into the effective rules; -1 = the direction's default
  bool operator==(const Verdict&) const = default;
};

/// Longest-prefix entry, then its list in order: what policy.bpf.c does.
Verdict evaluate(const CompiledPolicy& policy, const PacketView& packet);
/// First matching rule of all rules in decision order: the meaning of a rule set.
Verdict evaluate_linear(const CompiledPolicy& policy, const PacketView& packet);

}  // namespace nexus::net
