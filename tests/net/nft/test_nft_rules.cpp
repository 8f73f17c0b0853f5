// SPDX-License-Identifier: Apache-2.0
// The nft text the nftables policy backend sends: one rule's match for each kind of rule, the
// chains' fixed head, decision order, defaults, priorities, the counters kept across a
// replace, and the names it accepts.
#include <catch.hpp>

#include <string>

#include "net/nft/nft_context.hpp"
#include "net/nft/nft_policy_rules.hpp"

using namespace nexus;
using namespace nexus::net;
using namespace nexus::net::nft;

namespace {

Rule rule(const std::string& text) {
  auto r = parse_rule_text(text);
  INFO(text);
  REQUIRE(r);
  return *r;
}

bool has(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

// The position of `what` in `text`, failing when absent (for order checks).
size_t at(const std::string& text, const std::string& what) {
  size_t p = text.find(what);
  INFO("looking for: " << what << "\nin:\n" << text);
  REQUIRE(p != std::string::npos);
  return p;
}

}  // namespace

TEST_CASE("a rule becomes one nft match with its counter and verdict") {
  CHECK(render_rule(rule("--id db --direction egress --cidr 10.0.0.0/8 --proto tcp --ports 5432 --action allow"), "c_x_0") ==
        "ip daddr 10.0.0.0/8 tcp dport 5432 counter name c_x_0 accept comment \"db\"");
  CHECK(render_rule(rule("--id r --direction egress --cidr 198.51.100.7 --proto udp --ports 8000-8100 --action deny"), "c_x_1") ==
        "ip daddr 198.51.100.7/32 udp dport 8000-8100 counter name c_x_1 drop comment \"r\"");
  // Ingress rules look at the source: the remote end is the sender.
  CHECK(render_rule(rule("--id in --direction ingress --cidr 2001:db8::/32 --proto tcp --action allow"), "c_x_2") ==
        "ip6 saddr 2001:db8::/32 meta l4proto tcp counter name c_x_2 accept comment \"in\"");
  // icmp means ICMPv6 in an IPv6 rule.
  CHECK(render_rule(rule("--id p4 --direction egress --cidr 192.0.2.0/24 --proto icmp --action deny"), "c") ==
        "ip daddr 192.0.2.0/24 meta l4proto icmp counter name c drop comment \"p4\"");
  CHECK(render_rule(rule("--id p6 --direction egress --cidr ::/0 --proto icmp --action deny"), "c") ==
        "meta nfproto ipv6 meta l4proto ipv6-icmp counter name c drop comment \"p6\"");
  // /0 matches the whole family, nothing else.
  CHECK(render_rule(rule("--id all4 --direction egress --cidr 0.0.0.0/0 --action deny"), "c") ==
        "meta nfproto ipv4 counter name c drop comment \"all4\"");
  CHECK(render_rule(rule("--id u6 --direction ingress --cidr fd00::/8 --proto udp --ports 53 --action allow"), "c") ==
        "ip6 saddr fd00::/8 udp dport 53 counter name c accept comment \"u6\"");
  CHECK(render_rule(rule("--id ids:with-odd.chars --direction egress --cidr 1.2.3.4 --action allow"), "c") ==
        "ip daddr 1.2.3.4/32 counter name c accept comment \"ids:with-odd.chars\"");
}

TEST_CASE("the base: one table, hook chains before dstnat and after srcnat, interface maps") {
  std::string b = render_base();
  CHECK(has(b, "add table inet nexus_policy\n"));
  CHECK(has(b, "add chain inet nexus_policy from_sandbox { type filter hook prerouting priority -150; policy accept; }"));
  CHECK(has(b, "add chain inet nexus_policy to_sandbox { type filter hook postrouting priority 150; policy accept; }"));
  CHECK(has(b, "add map inet nexus_policy from_sandbox_ifs { type ifname : verdict; }"));
  // Sent again at every attach: flushed and refilled in the same transaction, never doubled.
  CHECK(at(b, "flush chain inet nexus_policy from_sandbox") < at(b, "add rule inet nexus_policy from_sandbox iifname vmap"));
  CHECK(has(b, "add rule inet nexus_policy to_sandbox oifname vmap @to_sandbox_ifs"));
}

TEST_CASE("attach: counters, the chains' fixed head, rules in decision order, defaults, map entries") {
  RuleSet set;
  set.rules = {rule("--id late --direction egress --cidr 198.51.100.0/24 --proto tcp --action allow --priority 2000"),
               rule("--id allow-7 --direction egress --cidr 198.51.100.7 --proto tcp --ports 7000 --action allow --priority 100"),
               rule("--id deny-7 --direction egress --cidr 198.51.100.0/24 --proto tcp --ports 7000 --action deny --priority 100"),
               rule("--id in-22 --direction ingress --cidr 203.0.113.0/24 --proto tcp --ports 22 --action allow")};
  set.egress_default = Action::deny;
  set.ingress_default = Action::allow;
  auto eff = effective_rules(set);
  REQUIRE(eff);
  ChainPlan plan{"nxsabc", *eff, {}, set.egress_default, set.ingress_default};
  uint64_t slot = 0;
  for (const auto& r : *eff) plan.counters[r.id] = rule_counter("nxsabc", slot++);
  std::string t = render_attach(plan);

  for (const char* c : {"c_nxsabc_de", "c_nxsabc_di", "c_nxsabc_re", "c_nxsabc_ri", "c_nxsabc_rel", "c_nxsabc_ndp"})
    CHECK(has(t, std::string("add counter inet nexus_policy ") + c + "\n"));
  CHECK(has(t, "create chain inet nexus_policy sb_nxsabc_e\n"));
  CHECK(has(t, "create chain inet nexus_policy sb_nxsabc_i\n"));
  const std::string e = "add rule inet nexus_policy sb_nxsabc_e ";
  // NDP and MLD, related ICMP errors and replies first; then the rules; the default last.
  size_t ndp = at(t, e + "icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, "
                         "nd-redirect, mld-listener-query, mld-listener-report, mld-listener-done, mld2-listener-report }");
  size_t rel = at(t, e + "ct state related counter name c_nxsabc_rel accept");
  size_t rep = at(t, e + "ct direction reply counter name c_nxsabc_re accept");
  // Same priority: deny before allow; lower priority numbers first.
  size_t deny7 = at(t, e + "ip daddr 198.51.100.0/24 tcp dport 7000 counter name c_nxsabc_");
  size_t allow7 = at(t, e + "ip daddr 198.51.100.7/32 tcp dport 7000");
  size_t late = at(t, e + "ip daddr 198.51.100.0/24 meta l4proto tcp");
  size_t private10 = at(t, e + "ip daddr 10.0.0.0/8 counter name");  // the default-deny set follows
  size_t def = at(t, e + "counter name c_nxsabc_de drop\n");
  CHECK(ndp < rel);
  CHECK(rel < rep);
  CHECK(rep < deny7);
  CHECK(deny7 < allow7);
  CHECK(allow7 < late);
  CHECK(late < private10);
  CHECK(private10 < def);
  // The ingress chain: its own reply counter, the ingress rule by source, its default.
  const std::string i = "add rule inet nexus_policy sb_nxsabc_i ";
  CHECK(has(t, i + "ct direction reply counter name c_nxsabc_ri accept"));
  CHECK(has(t, i + "ip saddr 203.0.113.0/24 tcp dport 22 counter name "));
  CHECK(has(t, i + "counter name c_nxsabc_di accept\n"));
  CHECK_FALSE(has(t, i + "ip daddr"));  // egress rules stay in the egress chain
  CHECK(has(t, "add element inet nexus_policy from_sandbox_ifs { \"nxsabc\" : jump sb_nxsabc_e }"));
  CHECK(has(t, "add element inet nexus_policy to_sandbox_ifs { \"nxsabc\" : jump sb_nxsabc_i }"));
  // Everything is one batch: the elements come after the chains they jump to.
  CHECK(def < at(t, "add element"));
}

TEST_CASE("without default_deny there are no default:* rules; the defaults still close the chains") {
  RuleSet set;
  set.default_deny = false;
  auto eff = effective_rules(set);
  REQUIRE(eff);
  ChainPlan plan{"x", *eff, {}, Action::allow, Action::deny};
  std::string t = render_attach(plan);
  CHECK_FALSE(has(t, "comment \"default:"));
  CHECK(has(t, "add rule inet nexus_policy sb_x_e counter name c_x_de accept\n"));
  CHECK(has(t, "add rule inet nexus_policy sb_x_i counter name c_x_di drop\n"));
}

TEST_CASE("replace rewrites both chains in one batch and adds or deletes only the counters that change") {
  auto eff = effective_rules(RuleSet{{rule("--id keep --direction egress --cidr 1.2.3.4 --action allow")}, false});
  REQUIRE(eff);
  ChainPlan plan{"nxh0", *eff, {{"keep", "c_nxh0_0"}}, Action::allow, Action::deny};
  std::string t = render_replace(plan, {"c_nxh0_5"}, {"c_nxh0_1"});
  CHECK(at(t, "add counter inet nexus_policy c_nxh0_5\n") < at(t, "flush chain inet nexus_policy sb_nxh0_e\n"));
  CHECK(at(t, "flush chain inet nexus_policy sb_nxh0_e\n") < at(t, "ip daddr 1.2.3.4/32 counter name c_nxh0_0 accept"));
  CHECK(at(t, "flush chain inet nexus_policy sb_nxh0_i\n") < at(t, "delete counter inet nexus_policy c_nxh0_1\n"));
  CHECK_FALSE(has(t, "create chain"));
  CHECK_FALSE(has(t, "add counter inet nexus_policy c_nxh0_0"));  // kept, with its counts
  CHECK_FALSE(has(t, "c_nxh0_de\n"));  // the stat counters stay too (only referenced)
}

TEST_CASE("detach removes what is there, or the whole table when it was the last interface") {
  InterfaceObjects o{"nxh0", true, true, true, true, {"c_nxh0_0", "c_nxh0_de"}};
  std::string t = render_detach(o, false);
  CHECK(at(t, "delete element inet nexus_policy from_sandbox_ifs { \"nxh0\" }") <
        at(t, "flush chain inet nexus_policy sb_nxh0_e\ndelete chain inet nexus_policy sb_nxh0_e\n"));
  CHECK(at(t, "delete chain inet nexus_policy sb_nxh0_i\n") < at(t, "delete counter inet nexus_policy c_nxh0_0\n"));
  CHECK(has(t, "delete counter inet nexus_policy c_nxh0_de\n"));
  InterfaceObjects half{"nxh0", true, false, false, false, {}};
  CHECK(render_detach(half, false) == "flush chain inet nexus_policy sb_nxh0_e\ndelete chain inet nexus_policy sb_nxh0_e\n");
  CHECK(render_detach(o, true) == "delete table inet nexus_policy\n");
  InterfaceObjects none;
  none.ifname = "x";
  CHECK(none.empty());
}

TEST_CASE("counter names belong to exactly one interface") {
  CHECK(is_counter_of("c_a_1", "a"));
  CHECK(is_counter_of("c_a_de", "a"));
  CHECK(is_counter_of("c_a_ndp", "a"));
  CHECK_FALSE(is_counter_of("c_a_1_2", "a"));  // slot 2 of interface a_1
  CHECK(is_counter_of("c_a_1_2", "a_1"));
  CHECK_FALSE(is_counter_of("c_a_1_de", "a"));
  CHECK_FALSE(is_counter_of("c_a_", "a"));
  CHECK_FALSE(is_counter_of("c_ab_1", "a"));
  CHECK_FALSE(is_counter_of("c_a_x", "a"));
}

TEST_CASE("interface names nftables cannot hold are refused, naming the name") {
  CHECK(validate_ifname("nxs4k2j9x0a1b2c"));
  CHECK(validate_ifname("veth-a.1_b"));
  for (const char* bad : {"", "nxs4k2j9x0a1b2cd", "a b", "a\"b", "a;b", "a}b", "a/b", "ä"}) {
    auto r = validate_ifname(bad);
    INFO(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().is(Errc::invalid_argument));
    CHECK(r.error().message().find(std::string("'") + bad + "'") != std::string::npos);
  }
  CHECK(egress_chain("nxh0") == "sb_nxh0_e");
  CHECK(ingress_chain("nxh0") == "sb_nxh0_i");
  CHECK(stat_counter("nxh0", StatCounter::related) == "c_nxh0_rel");
}

TEST_CASE("libnftables' errors become Errc values a caller can act on, keeping the message") {
  auto e = nft_error("netlink: Error: cache initialization failed: Operation not permitted", "attaching");
  CHECK(e.is(Errc::permission_denied));
  CHECK(e.message().rfind("attaching: netlink: Error: cache initialization failed: Operation not permitted", 0) == 0);
  CHECK(e.message().find("CAP_NET_ADMIN") != std::string::npos);
  CHECK(nft_error("Error: Could not process rule: No such file or directory", "x").is(Errc::not_found));
  CHECK(nft_error("Error: Could not process rule: File exists", "x").is(Errc::already_exists));
  CHECK(nft_error("Error: Could not process rule: Operation not supported", "x").is(Errc::unavailable));
  CHECK(nft_error("Error: syntax error, unexpected junk", "x").is(Errc::internal));
}
