// SPDX-License-Identifier: Apache-2.0
// The nft text of the nftables policy backend (nft_policy.hpp): names of the table, chains and
// counters, one rule's match, and the batches that attach, replace and detach one sandbox's
// chains. Pure string building, so unit tests read exactly what the kernel is given.
//
//   table inet nexus_policy
//     chain from_sandbox  hook prerouting priority -150: iifname vmap @from_sandbox_ifs
//     chain to_sandbox    hook postrouting priority 150: oifname vmap @to_sandbox_ifs
//     chain sb_<if>_e     what <if>'s sandbox sends (egress rules, destination addresses)
//     chain sb_<if>_i     what is sent to it (ingress rules, source addresses)
//     counter c_<if>_<n>  one per rule id; c_<if>_{de,di,re,ri,rel,ndp} for the rest
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "net/policy.hpp"

namespace nexus::net::nft {

inline constexpr const char* kPolicyTable = "nexus_policy";  ///< family inet
/// Before dstnat (-100), so egress rules see the destination the sandbox chose (not the
/// gateway a redirect turns it into); after conntrack (-200), so ct state is known.
inline constexpr int kEgressPriority = -150;
/// After srcnat (100), so on the way to the sandbox the reverse translation is done and
/// ingress rules see the real remote address.
inline constexpr int kIngressPriority = 150;

/// Linux interface names we accept: 1-15 characters of [A-Za-z0-9_.-] (the names become nft
/// identifiers, which allow no other characters). Errc::invalid_argument otherwise.
Result<void> validate_ifname(std::string_view ifname);

std::string egress_chain(std::string_view ifname);   ///< "sb_<if>_e"
std::string ingress_chain(std::string_view ifname);  ///< "sb_<if>_i"
std::string rule_counter(std::string_view ifname, uint64_t slot);  ///< "c_<if>_<slot>"

/// The counters that are not a rule's: defaults, replies, related ICMP errors, NDP.
enum class StatCounter { egress_default, ingress_default, egress_reply, ingress_reply, related, ndp };
inline constexpr StatCounter kStatCounters[] = {StatCounter::egress_default, StatCounter::ingress_default,
                                                StatCounter::egress_reply,   StatCounter::ingress_reply,
                                                StatCounter::related,        StatCounter::ndp};
std::string stat_counter(std::string_view ifname, StatCounter c);  ///< "c_<if>_de" ...

/// Whether `counter` is one of `ifname`'s ("c_<if>_" then digits or a stat suffix; since an
/// interface name cannot make a digit-only or stat suffix of another's, this is exact).
bool is_counter_of(std::string_view counter, std::string_view ifname);

/// One rule as nft match + counter + verdict ("ip daddr 10.0.0.0/8 tcp dport 5432 counter
/// name c_x_3 accept comment \"db\"").
std::string render_rule(const Rule& rule, std::string_view counter);

/// The table, the two hook chains and their interface maps; safe to send again (flush and
/// refill in the same transaction).
std::string render_base();

/// What one interface's chains hold: effective rules in decision order, each rule id's
/// counter object, and the defaults.
struct ChainPlan {
  std::string ifname;
  std::vector<Rule> rules;
  std::map<std::string, std::string> counters;  ///< rule id -> counter object
  Action egress_default = Action::allow;
  Action ingress_default = Action::deny;
};

/// The batch that creates the chains (and the base when missing) and hooks them in.
std::string render_attach(const ChainPlan& plan);
/// The batch that rewrites both chains in place, adding `new_counters` before and deleting
/// `old_counters` after (counters of ids that stay are kept, with their counts).
std::string render_replace(const ChainPlan& plan, const std::vector<std::string>& new_counters,
                           const std::vector<std::string>& old_counters);
/// What of one interface is in the table (found by listing it).
struct InterfaceObjects {
  std::string ifname;
  bool egress_chain = false, ingress_chain = false;  ///< sb_<if>_e, sb_<if>_i
  bool from_element = false, to_element = false;     ///< its entries in the two maps
  std::vector<std::string> counters;                 ///< c_<if>_*
  bool empty() const { return !egress_chain && !ingress_chain && !from_element && !to_element && counters.empty(); }
};

/// The batch that unhooks and deletes what `o` lists; with `drop_table`, the whole table
/// instead (`o` is all there is in it).
std::string render_detach(const InterfaceObjects& o, bool drop_table);

}  // namespace nexus::net::nft
