// SPDX-License-Identifier: Apache-2.0
// The host firewall's config validation and the table it renders: masquerade of the pools,
// the redirects to the gateway and DNS forwarder, input and forward rules, one transaction.
#include <catch.hpp>

#include <string>

#include "common/json.hpp"
#include "net/nft/host_firewall.hpp"

using namespace nexus;
using namespace nexus::net;
using namespace nexus::net::nft;

namespace {

bool has(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

size_t at(const std::string& text, const std::string& what) {
  size_t p = text.find(what);
  INFO("looking for: " << what << "\nin:\n" << text);
  REQUIRE(p != std::string::npos);
  return p;
}

Cidr cidr(const char* s) {
  auto c = Cidr::parse(s);
  REQUIRE(c);
  return *c;
}

std::string invalid(const HostFirewallConfig& c) {
  auto r = validate(c);
  REQUIRE_FALSE(r);
  CHECK(r.error().is(Errc::invalid_argument));
  return r.error().message();
}

}  // namespace

TEST_CASE("the default config is valid and renders the shared design") {
  HostFirewallConfig c;
  REQUIRE(validate(c));
  std::string t = render_host_table(c);
  // Replaced in one transaction: the delete and the new definition are one batch.
  CHECK(t.rfind("add table inet nexus\ndelete table inet nexus\ntable inet nexus {\n", 0) == 0);
  CHECK(has(t, "type nat hook prerouting priority dstnat; policy accept;"));
  CHECK(has(t, "type nat hook postrouting priority srcnat; policy accept;"));
  CHECK(has(t, "iifname @sandboxes ip daddr != 10.88.0.0/16 tcp dport 80 counter redirect to :15080 comment \"redirect-http\""));
  CHECK(has(t, "iifname @sandboxes ip daddr != 10.88.0.0/16 tcp dport 443 counter redirect to :15443 comment \"redirect-tls\""));
  CHECK(has(t, "iifname @sandboxes fib daddr type local meta l4proto { tcp, udp } th dport 53 counter redirect to :15053"));
  CHECK(has(t, "oifname != @sandboxes ip saddr 10.88.0.0/16 counter masquerade comment \"masquerade-ipv4\""));
  CHECK_FALSE(has(t, "masquerade-ipv6"));
  CHECK_FALSE(has(t, "redirect-http-ipv6"));
  // Input: sandboxes get their own chain; the services are closed to everyone else but lo.
  CHECK(has(t, "iifname @sandboxes jump input_sandbox"));
  CHECK(has(t, "iifname != \"lo\" iifname != @sandboxes meta l4proto { tcp, udp } th dport { 15080, 15443, 15053 } counter drop"));
  size_t est = at(t, "ct state established,related counter accept comment \"sandbox-established\"");
  size_t svc = at(t, "ct status dnat tcp dport { 15080, 15443, 15053 } counter accept");
  size_t udp = at(t, "ct status dnat udp dport 15053 counter accept");
  size_t drop = at(t, "counter drop comment \"sandbox-input-drop\"");
  CHECK(est < svc);
  CHECK(svc < udp);
  CHECK(udp < drop);
  // Forward: sandbox to sandbox first, then only replies towards a sandbox, then its own traffic.
  size_t s2s = at(t, "iifname @sandboxes oifname @sandboxes counter drop comment \"sandbox-to-sandbox\"");
  // The link's own ICMPv6 control messages are never routed on.
  size_t link = at(t, "iifname @sandboxes icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, "
                      "nd-neighbor-advert, nd-redirect, mld-listener-query, mld-listener-report, mld-listener-done, "
                      "mld2-listener-report } counter drop comment \"sandbox-link-control\"");
  CHECK(s2s < link);
  size_t back = at(t, "oifname @sandboxes ct state established,related counter accept");
  size_t nnew = at(t, "oifname @sandboxes counter drop comment \"to-sandbox-new\"");
  size_t out = at(t, "iifname @sandboxes counter accept comment \"from-sandbox\"");
  CHECK(link < back);
  CHECK(back < nnew);
  CHECK(nnew < out);
}

TEST_CASE("an IPv6 pool adds its masquerade and redirects; ports and prefix are the config's") {
  HostFirewallConfig c;
  c.pool4 = cidr("10.200.0.0/20");
  c.pool6 = cidr("fd4e:7800::/64");
  c.http_port = 18080;
  c.tls_port = 18443;
  c.dns_port = 18053;
  c.prefix = "sbx";
  c.table = "nexus_t42";
  REQUIRE(validate(c));
  std::string t = render_host_table(c, {"sbxa", "sbxb"});
  CHECK(t.rfind("add table inet nexus_t42\ndelete table inet nexus_t42\ntable inet nexus_t42 {\n", 0) == 0);
  // The rules match this nexusd's sandboxes by name, through the set, never by a wildcard.
  CHECK(has(t, "set sandboxes {\n    type ifname;\n    elements = { \"sbxa\", \"sbxb\" }\n  }"));
  CHECK(has(t, "oifname != @sandboxes ip6 saddr fd4e:7800::/64 counter masquerade comment \"masquerade-ipv6\""));
  CHECK(has(t, "iifname @sandboxes ip6 daddr != fd4e:7800::/64 tcp dport 80 counter redirect to :18080"));
  CHECK(has(t, "iifname @sandboxes ip6 daddr != fd4e:7800::/64 tcp dport 443 counter redirect to :18443"));
  CHECK_FALSE(has(t, "*\""));
  CHECK(has(t, "ip saddr 10.200.0.0/20 counter masquerade"));
  CHECK(has(t, "th dport 53 counter redirect to :18053"));
  CHECK(has(t, "th dport { 18080, 18443, 18053 } counter drop"));
  CHECK_FALSE(has(t, "nxs"));
  CHECK_FALSE(has(t, "1508"));
  c.table = "Nexus-1";
  CHECK(has(invalid(c), "table 'Nexus-1': 1-32 characters a-z, 0-9 or _"));
}

TEST_CASE("bad configs are refused with the field and the value") {
  HostFirewallConfig c;
  c.pool4 = cidr("2001:db8::/64");
  CHECK(has(invalid(c), "pool4 2001:db8::/64: not an IPv4 network"));
  c.pool4 = cidr("10.88.0.0/31");
  CHECK(has(invalid(c), "pool4 10.88.0.0/31: the prefix must be /8 to /30"));
  c.pool4 = cidr("10.0.0.0/7");
  CHECK(has(invalid(c), "pool4 10.0.0.0/7"));
  c = {};
  c.pool6 = cidr("10.1.0.0/16");
  CHECK(has(invalid(c), "pool6 10.1.0.0/16: not an IPv6 network"));
  c.pool6 = cidr("fd00::/127");
  CHECK(has(invalid(c), "pool6 fd00::/127: the prefix must be /16 to /126"));
  c = {};
  c.tls_port = 0;
  CHECK(has(invalid(c), "tls_port 0"));
  c = {};
  c.dns_port = 15080;
  CHECK(has(invalid(c), "http_port and dns_port are both 15080"));
  for (const char* p : {"", "nxs*", "NXS", "a b", "toolongpfx", "nx\"s"}) {
    c = {};
    c.prefix = p;
    INFO(p);
    CHECK(has(invalid(c), std::string("interface prefix '") + p + "'"));
  }
  c = {};
  auto fw = HostFirewall::create(c);
  CHECK(fw);
  c.prefix = "";
  auto bad = HostFirewall::create(c);
  REQUIRE_FALSE(bad);
  CHECK(has(bad.error().message(), "host firewall config: interface prefix ''"));
}

TEST_CASE("another table's forward chain with policy drop is found, with the way out") {
  // `nft -j list chains` on a host with Docker (iptables-nft), nexusd's own table and a
  // forward chain that accepts.
  Json listing = parse_json(R"([
    {"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
    {"chain": {"family": "ip", "table": "filter", "name": "FORWARD", "handle": 1, "type": "filter",
               "hook": "forward", "prio": 0, "policy": "drop"}},
    {"chain": {"family": "ip", "table": "filter", "name": "DOCKER-USER", "handle": 9}},
    {"chain": {"family": "inet", "table": "nexus", "name": "forward", "handle": 4, "type": "filter",
               "hook": "forward", "prio": 0, "policy": "drop"}},
    {"chain": {"family": "inet", "table": "other", "name": "fwd", "handle": 2, "type": "filter",
               "hook": "forward", "prio": 0, "policy": "accept"}},
    {"chain": {"family": "ip6", "table": "strict", "name": "fwd", "handle": 3, "type": "filter",
               "hook": "forward", "prio": 10, "policy": "drop"}},
    {"chain": "not an object"}, 7
  ])").value();
  auto drops = forward_drop_chains(listing, "nexus");
  REQUIRE(drops.size() == 2);
  CHECK(drops[0].to_string() == "table ip filter chain FORWARD");
  CHECK(drops[0].docker_user);
  CHECK(drops[1].to_string() == "table ip6 strict chain fwd");
  CHECK_FALSE(drops[1].docker_user);
  // nexusd's own table (any name it was given) is never reported.
  CHECK(forward_drop_chains(listing, "other").size() == 3);
  CHECK(forward_drop_chains(Json::object(), "nexus").empty());

  std::string advice = describe_forward_drops(drops, "nxs");
  CHECK(has(advice, "table ip filter chain FORWARD, table ip6 strict chain fwd drop forwarded packets by policy "
                    "(Docker does this), so sandboxes cannot reach the outside"));
  CHECK(has(advice, "iptables -I DOCKER-USER -i nxs+ -j ACCEPT && iptables -I DOCKER-USER -o nxs+"));
  CHECK(has(advice, "nft insert rule ip6 strict fwd iifname \"nxs*\" accept"));
  std::string plain = describe_forward_drops({drops[1]}, "nxs");
  CHECK(has(plain, "table ip6 strict chain fwd drops forwarded"));
  CHECK_FALSE(has(plain, "Docker"));
  ForeignForwardDrop v6{"ip6", "filter", "FORWARD"};
  CHECK(has(describe_forward_drops({v6}, "nxs"), "ip6tables -I FORWARD -i nxs+ -j ACCEPT"));
}
