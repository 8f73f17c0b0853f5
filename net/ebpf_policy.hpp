// SPDX-License-Identifier: Apache-2.0
// The eBPF backend: loads net/bpf/policy.bpf.c (a libbpf skeleton) with its own maps, attaches
// it with TC to the host-side veth of one sandbox, swaps rule sets atomically, reads counters,
// detaches and leaves nothing behind. Nothing is pinned: the programs and maps live as long as
// this object (and the TC filters holding them; deleting the interface releases those too).
//
// Directions: the sandbox's egress is the TC *ingress* hook of the host-side veth (what the
// sandbox sends arrives there), its ingress is the TC *egress* hook.
//
// Not thread-safe: one thread owns an EbpfPolicy. Needs CAP_BPF and CAP_NET_ADMIN (root), in
// the network namespace that holds the interface.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "net/policy.hpp"
#include "net/policy_backend.hpp"
#include "net/policy_compile.hpp"

struct nx_policy;  // the generated skeleton (policy.skel.h)

namespace nexus::net {

/// What the program did outside the rules.
struct PolicyStats {
  Counter egress_default, ingress_default;  ///< no rule matched: the direction's default
  Counter egress_reply, ingress_reply;      ///< passed as replies of flows the other side opened
  Counter related;                          ///< ICMP errors about a tracked flow, passed
  Counter arp, ndp;                         ///< passed without rules
  Counter non_ip, fragment, malformed;      ///< dropped without rules
};

class EbpfPolicy final : public PolicyBackend {
 public:
  /// Loads the program and its maps, writes `rules` as the first generation, then attaches to
  /// both TC hooks of `ifindex` (creating the clsact qdisc when it is not there). Errors:
  /// Errc::invalid_argument / too_large for the rules, permission_denied without CAP_BPF or
  /// CAP_NET_ADMIN, a system error otherwise; a verifier rejection carries the log's tail.
  /// `take_over`: replace the filters an earlier EbpfPolicy (of a nexusd that died) left on
  /// the interface instead of failing with already_exists.
  static Result<std::unique_ptr<EbpfPolicy>> attach(int ifindex, const RuleSet& rules, bool take_over = false);

  /// Whether the program loads here (verifier, CAP_BPF): what nexusd asks before it picks
  /// this backend. The error says why not.
  static Result<void> probe();

  EbpfPolicy(const EbpfPolicy&) = delete;
  EbpfPolicy& operator=(const EbpfPolicy&) = delete;
  ~EbpfPolicy() override;  ///< detach(), errors ignored

  std::string_view name() const override { return "ebpf"; }

  /// Compiles `rules`, writes them as the next generation beside the active one, then makes
  /// it active with one 32-bit store: every packet sees either the old set or the new one.
  /// On error the active set is unchanged.
  Result<void> replace(const RuleSet& rules) override;

  /// Per rule of the active set, in decision order. Counters belong to a rule id and carry
  /// over a replace() while the id stays.
  Result<std::vector<RuleCounter>> rule_counters() const override;
  Result<PolicyStats> stats() const;

  /// Removes the TC filters (and the clsact qdisc when this object created it) and frees the
  /// programs and maps. Idempotent.
  Result<void> detach() override;

  int ifindex() const { return ifindex_; }
  uint32_t generation() const { return generation_; }
  const CompiledPolicy& active() const { return active_; }
  /// Kernel ids of the loaded programs and maps (empty after detach), for diagnostics.
  std::vector<uint32_t> prog_ids() const;
  std::vector<uint32_t> map_ids() const;

 private:
  EbpfPolicy() = default;
  Result<void> write_generation(uint32_t gen, const CompiledPolicy& policy);
  Result<void> delete_entries(uint32_t gen, const CompiledPolicy& policy);
  Result<void> attach_hooks(bool take_over);
  Result<void> detach_locked();  ///< detach() while libbpf's output is being captured
  Result<Counter> read_counter(int map_fd, uint32_t slot) const;
  Result<void> zero_counters(uint32_t parity);

  int ifindex_ = 0;
  nx_policy* skel_ = nullptr;
  bool owns_qdisc_ = false;
  bool attached_egress_ = false, attached_ingress_ = false;
  uint32_t generation_ = 0;
  CompiledPolicy active_;
  CompiledPolicy previous_;  ///< the other parity's entries and counters, still in the maps
  bool have_previous_ = false;
  std::map<std::string, Counter> folded_;  ///< counts of generations older than previous_
};

}  // namespace nexus::net
