// SPDX-License-Identifier: Apache-2.0
// PolicyBackend: what enforces one sandbox's L3/L4 rules on its host-side veth. The eBPF
// program (ebpf_policy.hpp) is the first choice; the nftables fallback (net/nft/) and "none"
// sit behind the same interface, and nexusd picks one at start-up (and says why).
//
// Semantics every backend keeps (net/README.md "Meaning"): the sandbox's egress is what
// arrives on the host-side veth, before NAT; its ingress is what leaves through it; replies to
// flows the other side opened pass; the first rule in decision order that matches decides,
// else the direction's default. Counters follow rule ids across replace().
//
// Not thread-safe: one thread owns a backend object.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "net/policy.hpp"

namespace nexus::net {

struct Counter {
  uint64_t packets = 0;  ///< packets (a GSO super-packet counts as its segments)
  uint64_t bytes = 0;    ///< bytes as seen at the veth (the eBPF backend counts the Ethernet header)
};

struct RuleCounter {
  std::string id;
  Direction direction = Direction::egress;
  Counter counter;
};

class PolicyBackend {
 public:
  virtual ~PolicyBackend() = default;
  /// "ebpf", "nftables" or "none".
  virtual std::string_view name() const = 0;
  /// Makes `rules` the active set, atomically for packets; on error the old set stays.
  virtual Result<void> replace(const RuleSet& rules) = 0;
  /// Per rule of the active set (effective_rules() order), with its packets and bytes.
  virtual Result<std::vector<RuleCounter>> rule_counters() const = 0;
  /// Removes everything this backend put in the kernel for the interface. Idempotent.
  virtual Result<void> detach() = 0;
};

}  // namespace nexus::net
