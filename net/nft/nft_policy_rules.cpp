// SPDX-License-Identifier: Apache-2.0
#include "net/nft/nft_policy_rules.hpp"

#include <fmt/format.h>

namespace nexus::net::nft {
namespace {

const char* verdict(Action a) { return a == Action::allow ? "accept" : "drop"; }

const char* stat_suffix(StatCounter c) {
  switch (c) {
    case StatCounter::egress_default: return "de";
    case StatCounter::ingress_default: return "di";
    case StatCounter::egress_reply: return "re";
    case StatCounter::ingress_reply: return "ri";
    case StatCounter::related: return "rel";
    case StatCounter::ndp: return "ndp";
  }
  return "x";
}

// The fixed head of both chains: what passes before the rules, as in the eBPF program.
// Neighbour discovery (ICMPv6 133-137) is needed for IPv6 on the veth at all, and multicast
// listener discovery (130-132, 143) is the link's own too (both kernels send it); ICMP errors
// about a tracked flow (ct state related: no helpers are attached, so nothing else is) let
// PMTU discovery and "port unreachable" through; replies of flows the other side opened pass.
// Packets of the opening direction are judged by the rules every time, so a new deny cuts a
// running flow at its next packet, as the eBPF backend does.
std::string chain_body(const ChainPlan& p, Direction d) {
  const std::string chain = d == Direction::egress ? egress_chain(p.ifname) : ingress_chain(p.ifname);
  const std::string head = fmt::format("add rule inet {} {} ", kPolicyTable, chain);
  std::string t;
  t += head + fmt::format(
                  "icmpv6 type {{ nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, "
                  "nd-redirect, mld-listener-query, mld-listener-report, mld-listener-done, mld2-listener-report }} "
                  "counter name {} accept\n",
                  stat_counter(p.ifname, StatCounter::ndp));
  t += head + fmt::format("ct state related counter name {} accept\n", stat_counter(p.ifname, StatCounter::related));
  t += head + fmt::format("ct direction reply counter name {} accept\n",
                          stat_counter(p.ifname, d == Direction::egress ? StatCounter::egress_reply : StatCounter::ingress_reply));
  for (const auto& r : p.rules) {
    if (r.direction != d) continue;
    auto it = p.counters.find(r.id);
    t += head + render_rule(r, it == p.counters.end() ? std::string() : it->second) + "\n";
  }
  const Action def = d == Direction::egress ? p.egress_default : p.ingress_default;
  t += head + fmt::format("counter name {} {}\n",
                          stat_counter(p.ifname, d == Direction::egress ? StatCounter::egress_default : StatCounter::ingress_default),
                          verdict(def));
  return t;
}

std::string stat_counters_add(std::string_view ifname) {
  std::string t;
  for (auto c : kStatCounters) t += fmt::format("add counter inet {} {}\n", kPolicyTable, stat_counter(ifname, c));
  return t;
}

std::string add_elements(std::string_view ifname) {
  return fmt::format("add element inet {0} from_sandbox_ifs {{ \"{1}\" : jump {2} }}\n"
                       "add element inet {0} to_sandbox_ifs {{ \"{1}\" : jump {3} }}\n",
                       kPolicyTable, ifname, egress_chain(ifname), ingress_chain(ifname));
}

}  // namespace

Result<void> validate_ifname(std::string_view ifname) {
  if (ifname.empty() || ifname.size() > 15)
    return fail(Errc::invalid_argument, fmt::format("interface name '{}': 1-15 characters", ifname));
  for (char c : ifname)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
      return fail(Errc::invalid_argument,
                  fmt::format("interface name '{}': only A-Z, a-z, 0-9, '_', '-' and '.' are supported", ifname));
  return {};
}

std::string egress_chain(std::string_view ifname) { return fmt::format("sb_{}_e", ifname); }
std::string ingress_chain(std::string_view ifname) { return fmt::format("sb_{}_i", ifname); }
std::string rule_counter(std::string_view ifname, uint64_t slot) { return fmt::format("c_{}_{}", ifname, slot); }
std::string stat_counter(std::string_view ifname, StatCounter c) { return fmt::format("c_{}_{}", ifname, stat_suffix(c)); }

bool is_counter_of(std::string_view counter, std::string_view ifname) {
  const std::string head = fmt::format("c_{}_", ifname);
  if (counter.size() <= head.size() || counter.substr(0, head.size()) != head) return false;
  std::string_view rest = counter.substr(head.size());
  for (auto c : kStatCounters)
    if (rest == stat_suffix(c)) return true;
  for (char ch : rest)
    if (ch < '0' || ch > '9') return false;
  return true;
}

std::string render_rule(const Rule& r, std::string_view counter) {
  std::string m;
  const bool v4 = r.cidr.family == 4;
  if (r.cidr.prefix_len == 0)
    m = v4 ? "meta nfproto ipv4" : "meta nfproto ipv6";
  else
    m = fmt::format("{} {} {}", v4 ? "ip" : "ip6", r.direction == Direction::egress ? "daddr" : "saddr", r.cidr.to_string());
  switch (r.protocol) {
    case Protocol::any: break;
    case Protocol::icmp: m += v4 ? " meta l4proto icmp" : " meta l4proto ipv6-icmp"; break;
    case Protocol::tcp:
    case Protocol::udp: {
      const char* p = r.protocol == Protocol::tcp ? "tcp" : "udp";
      if (r.ports.is_any())
        m += fmt::format(" meta l4proto {}", p);
      else if (r.ports.lo == r.ports.hi)
        m += fmt::format(" {} dport {}", p, r.ports.lo);
      else
        m += fmt::format(" {} dport {}-{}", p, r.ports.lo, r.ports.hi);
      break;
    }
  }
  if (!counter.empty()) m += fmt::format(" counter name {}", counter);
  // Ids are [A-Za-z0-9._:-] (validated), safe inside a quoted comment.
  m += fmt::format(" {} comment \"{}\"", verdict(r.action), r.id);
  return m;
}

std::string render_base() {
  return fmt::format(
      "add table inet {0}\n"
      "add map inet {0} from_sandbox_ifs {{ type ifname : verdict; }}\n"
      "add map inet {0} to_sandbox_ifs {{ type ifname : verdict; }}\n"
      "add chain inet {0} from_sandbox {{ type filter hook prerouting priority {1}; policy accept; }}\n"
      "add chain inet {0} to_sandbox {{ type filter hook postrouting priority {2}; policy accept; }}\n"
      "flush chain inet {0} from_sandbox\n"
      "flush chain inet {0} to_sandbox\n"
      "add rule inet {0} from_sandbox iifname vmap @from_sandbox_ifs\n"
      "add rule inet {0} to_sandbox oifname vmap @to_sandbox_ifs\n",
      kPolicyTable, kEgressPriority, kIngressPriority);
}

std::string render_attach(const ChainPlan& p) {
  std::string t = render_base();
  t += stat_counters_add(p.ifname);
  for (const auto& [id, name] : p.counters) t += fmt::format("add counter inet {} {}\n", kPolicyTable, name);
  // "create" fails when the chain exists: two backends must never share an interface.
  t += fmt::format("create chain inet {} {}\n", kPolicyTable, egress_chain(p.ifname));
  t += fmt::format("create chain inet {} {}\n", kPolicyTable, ingress_chain(p.ifname));
  t += chain_body(p, Direction::egress);
  t += chain_body(p, Direction::ingress);
  t += add_elements(p.ifname);
  return t;
}

std::string render_replace(const ChainPlan& p, const std::vector<std::string>& new_counters,
                           const std::vector<std::string>& old_counters) {
  std::string t;
  for (const auto& n : new_counters) t += fmt::format("add counter inet {} {}\n", kPolicyTable, n);
  t += fmt::format("flush chain inet {} {}\n", kPolicyTable, egress_chain(p.ifname));
  t += chain_body(p, Direction::egress);
  t += fmt::format("flush chain inet {} {}\n", kPolicyTable, ingress_chain(p.ifname));
  t += chain_body(p, Direction::ingress);
  // After the flush in the same transaction: nothing references them any more.
  for (const auto& n : old_counters) t += fmt::format("delete counter inet {} {}\n", kPolicyTable, n);
  return t;
}

std::string render_detach(const InterfaceObjects& o, bool drop_table) {
  if (drop_table) return fmt::format("delete table inet {}\n", kPolicyTable);
  std::string t;
  if (o.from_element) t += fmt::format("delete element inet {} from_sandbox_ifs {{ \"{}\" }}\n", kPolicyTable, o.ifname);
  if (o.to_element) t += fmt::format("delete element inet {} to_sandbox_ifs {{ \"{}\" }}\n", kPolicyTable, o.ifname);
  // A chain must be empty to be deleted; the flush and the delete are one transaction.
  if (o.egress_chain) t += fmt::format("flush chain inet {0} {1}\ndelete chain inet {0} {1}\n", kPolicyTable, egress_chain(o.ifname));
  if (o.ingress_chain)
    t += fmt::format("flush chain inet {0} {1}\ndelete chain inet {0} {1}\n", kPolicyTable, ingress_chain(o.ifname));
  for (const auto& n : o.counters) t += fmt::format("delete counter inet {} {}\n", kPolicyTable, n);
  return t;
}

}  // namespace nexus::net::nft
