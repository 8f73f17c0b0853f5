// SPDX-License-Identifier: Apache-2.0
// The nftables fallback of the sandbox policy: the same RuleSet, the same meaning as the eBPF
// backend (net/README.md "Meaning"), as two chains per sandbox interface in the table
// `inet nexus_policy` (nft_policy_rules.hpp draws it). The host firewall's `inet nexus` is a
// different table, so replacing it never drops a sandbox's policy.
//
// Differences from the eBPF backend (README.md beside this file): byte counters count the IP
// packet without the Ethernet header; fragments are reassembled by conntrack before the rules
// (eBPF drops them); only IP is seen (ARP and other ethertypes are not filtered here).
//
// Not thread-safe: one thread owns an NftPolicy. Needs CAP_NET_ADMIN in the network namespace
// that holds the interface, and must be called from a thread in that namespace.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "net/policy.hpp"
#include "net/policy_backend.hpp"

namespace nexus::net::nft {

/// What the chains did outside the rules (as EbpfPolicy's PolicyStats, minus what nftables
/// does not see: ARP, non-IP, fragments, malformed).
struct NftPolicyStats {
  Counter egress_default, ingress_default;  ///< no rule matched: the direction's default
  Counter egress_reply, ingress_reply;      ///< replies of flows the other side opened
  Counter related;                          ///< ICMP errors about a tracked flow
  Counter ndp;                              ///< IPv6 neighbour discovery, passed without rules
};

class NftPolicy final : public PolicyBackend {
 public:
  /// Writes `rules` as the chains of `ifname` (the sandbox's host-side veth) and hooks them
  /// in, in one transaction. Errors: Errc::invalid_argument / too_large for the rules or a
  /// name nftables cannot hold, not_found when the interface does not exist, already_exists
  /// when the interface has chains already, permission_denied without CAP_NET_ADMIN.
  /// `take_over`: replace the chains an earlier NftPolicy (of a nexusd that died) left for
  /// the interface, in the same transaction, instead of failing with already_exists; rule
  /// ids it keeps keep their counts.
  static Result<std::unique_ptr<NftPolicy>> attach(const std::string& ifname, const RuleSet& rules,
                                                   bool take_over = false);

  NftPolicy(const NftPolicy&) = delete;
  NftPolicy& operator=(const NftPolicy&) = delete;
  ~NftPolicy() override;  ///< detach(), errors ignored

  std::string_view name() const override { return "nftables"; }

  /// Rewrites both chains in one transaction (every packet sees the old set or the new one).
  /// A rule id that stays keeps its counter object, so its counts carry on exactly; counters
  /// of ids that go are deleted in the same transaction. On error nothing changed.
  Result<void> replace(const RuleSet& rules) override;
  Result<std::vector<RuleCounter>> rule_counters() const override;
  Result<NftPolicyStats> stats() const;
  /// Unhooks and deletes the chains and counters; the table too when no other interface is
  /// left in it. Idempotent.
  Result<void> detach() override;

  const std::string& ifname() const { return ifname_; }
  uint32_t generation() const { return generation_; }  ///< replace() calls that took effect
  const std::vector<Rule>& active() const { return active_; }

  /// Interfaces that have chains in `inet nexus_policy` (sorted), so nexusd can remove the
  /// chains of sandboxes that no longer exist (after a crash).
  static Result<std::vector<std::string>> list_interfaces();
  /// Removes whatever `ifname` has in the table (chains, map entries, counters), and the
  /// table when nothing else is left. Nothing there: ok.
  static Result<void> remove_interface(const std::string& ifname);

 private:
  explicit NftPolicy(std::string ifname) : ifname_(std::move(ifname)) {}
  Result<std::map<std::string, Counter>> read_counters() const;

  std::string ifname_;
  bool attached_ = false;
  uint32_t generation_ = 0;
  uint64_t next_slot_ = 0;
  std::vector<Rule> active_;
  std::map<std::string, std::string> counters_;  ///< rule id -> counter object
  Action egress_default_ = Action::allow, ingress_default_ = Action::deny;
};

}  // namespace nexus::net::nft
