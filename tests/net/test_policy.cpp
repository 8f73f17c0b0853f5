// SPDX-License-Identifier: Apache-2.0
// net/policy and net/policy_compile: parsing, validation, the default-deny set, decision order,
// and that the compiled (LPM) form decides exactly as the linear specification does.
#include <catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <random>

#include "net/policy.hpp"
#include "net/policy_compile.hpp"

using namespace nexus;
using namespace nexus::net;

namespace {

Rule rule(std::string_view text) {
  auto r = parse_rule_text(text, 1);
  INFO(text);
  REQUIRE(r);
  return *r;
}

PacketView packet(Direction d, std::string_view addr, uint8_t proto, uint16_t dport = 0) {
  PacketView p;
  p.direction = d;
  std::string a(addr);
  if (::inet_pton(AF_INET, a.c_str(), p.remote.data()) == 1) {
    p.family = 4;
  } else {
    REQUIRE(::inet_pton(AF_INET6, a.c_str(), p.remote.data()) == 1);
    p.family = 6;
  }
  p.ip_proto = proto;
  p.dport = dport;
  return p;
}

CompiledPolicy compiled(std::vector<Rule> rules, bool defaults = true) {
  RuleSet set;
  set.rules = std::move(rules);
  set.default_deny = defaults;
  auto c = compile(set);
  REQUIRE(c);
  return *c;
}

// The verdict, checked against the linear specification on the way.
Verdict decide(const CompiledPolicy& p, const PacketView& pkt) {
  Verdict v = evaluate(p, pkt);
  CHECK(v == evaluate_linear(p, pkt));
  return v;
}

std::string rule_id(const CompiledPolicy& p, const Verdict& v) {
  return v.rule < 0 ? "default" : p.rules[static_cast<size_t>(v.rule)].id;
}

void require_error(const Result<Rule>& r, std::initializer_list<std::string_view> words) {
  REQUIRE_FALSE(r);
  CHECK(r.error().is(Errc::invalid_argument));
  for (auto w : words) {
    INFO(r.error().message());
    CHECK(r.error().message().find(w) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("CIDRs parse, normalise and nest") {
  auto a = Cidr::parse("10.0.0.0/8");
  REQUIRE(a);
  CHECK(a->family == 4);
  CHECK(a->prefix_len == 8);
  CHECK(a->to_string() == "10.0.0.0/8");
  auto host = Cidr::parse("10.1.2.3");
  REQUIRE(host);
  CHECK(host->prefix_len == 32);
  CHECK(a->contains(*host));
  CHECK_FALSE(host->contains(*a));
  auto v6 = Cidr::parse("2001:DB8::/32");
  REQUIRE(v6);
  CHECK(v6->family == 6);
  CHECK(v6->to_string() == "2001:db8::/32");
  CHECK_FALSE(v6->contains(*a));
  CHECK(Cidr::parse("0.0.0.0/0")->contains(*host));
  CHECK(Cidr::parse("::/0")->contains(*Cidr::parse("fe80::1")));
  CHECK(Cidr::parse("fe80::/10")->contains(*Cidr::parse("febf::1")));
  CHECK_FALSE(Cidr::parse("fe80::/10")->contains(*Cidr::parse("fec0::1")));

  for (auto [text, why] : {std::pair{"10.0.0.1/8", "host bits set; the network is 10.0.0.0/8"},
                           {"10.0.0.0/33", "prefix length must be 0-32"},
                           {"2001:db8::/129", "prefix length must be 0-128"},
                           {"10.0.0/8", "not an IPv4 or IPv6 address"},
                           {"300.1.1.1/32", "not an IPv4 or IPv6 address"},
                           {"10.0.0.0/", "prefix length"},
                           {"10.0.0.0/8x", "prefix length"},
                           {"", "empty"}}) {
    auto r = Cidr::parse(text);
    INFO(text);
    REQUIRE_FALSE(r);
    CHECK(r.error().is(Errc::invalid_argument));
    CHECK(r.error().message().find(std::string("cidr '") + text + "'") != std::string::npos);
    CHECK(r.error().message().find(why) != std::string::npos);
  }
}

TEST_CASE("port ranges") {
  CHECK(PortRange::parse("5432")->lo == 5432);
  CHECK(PortRange::parse("5432")->hi == 5432);
  CHECK(PortRange::parse("8000-8100")->to_string() == "8000-8100");
  CHECK(PortRange::parse("any")->is_any());
  CHECK(PortRange::parse("1-65535")->to_string() == "1-65535");
  for (auto bad : {"0", "65536", "8100-8000", "80-", "-80", "http", "1-2-3", "99999999"}) {
    auto r = PortRange::parse(bad);
    INFO(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().message().find(std::string("ports '") + bad + "'") != std::string::npos);
  }
}

TEST_CASE("rules parse from CLI text and JSON alike") {
  Rule t = rule("--direction egress --cidr 10.0.0.0/8 --proto tcp --ports 5432 --action allow "
                "--priority 10 --id db");
  auto j = rule_from_json(parse_json(R"({"id": "db", "direction": "egress", "cidr": "10.0.0.0/8",
      "protocol": "tcp", "ports": 5432, "action": "allow", "priority": 10})").value());
  REQUIRE(j);
  CHECK(t == *j);
  CHECK(t.ports == PortRange{5432, 5432});
  CHECK(rule("direction=egress cidr=10.0.0.0/8 proto=tcp ports=5432 action=allow priority=10 id=db") == t);
  // Round trips.
  CHECK(rule(to_text(t)) == t);
  CHECK(*rule_from_json(to_json(t)) == t);
  // Defaults: protocol any, ports any, priority 1000, an id from the position.
  Rule d = rule("--direction ingress --cidr ::/0 --action deny");
  CHECK(d.protocol == Protocol::any);
  CHECK(d.ports.is_any());
  CHECK(d.priority == kDefaultPriority);
  CHECK(d.id == "rule-1");
}

TEST_CASE("bad rules name the field and the value") {
  require_error(parse_rule_text("--direction sideways --cidr 10.0.0.0/8 --action allow"),
                {"direction 'sideways'"});
  require_error(parse_rule_text("--direction egress --cidr 10.0.0.300/8 --action allow"),
                {"cidr '10.0.0.300/8'"});
  require_error(parse_rule_text("--direction egress --cidr 10.0.0.0/8 --proto icmp --ports 22 --action allow"),
                {"ports '22'", "tcp or udp", "icmp"});
  require_error(parse_rule_text("--direction egress --cidr 10.0.0.0/8 --ports 22 --action allow"),
                {"ports '22'", "any"});
  require_error(parse_rule_text("--direction egress --cidr 10.0.0.0/8 --proto tcp --ports 90-80 --action allow"),
                {"ports '90-80'", "backwards"});
  require_error(parse_rule_text("--direction egress --cidr 10.0.0.0/8 --proto sctp --action allow"),
                {"protocol 'sctp'"});
  require_error(parse_rule_text("--direction egress --cidr 10.0.0.0/8 --action maybe"),
                {"action 'maybe'"});
  require_error(parse_rule_text("--direction egress --cidr 10.0.0.0/8 --action allow --priority 70000"),
                {"priority '70000'"});
  require_error(parse_rule_text("--direction egress --cidr 10.0.0.0/8 --action allow --id 'a b'"),
                {"rule"});
  require_error(parse_rule_text("--direction egress --cidr 10.0.0.0/8 --action allow --id a/b"),
                {"id 'a/b'"});
  require_error(parse_rule_text("--direction egress --action allow"), {"'cidr' is required"});
  require_error(parse_rule_text("--direction egress --cidr 10.0.0.0/8 --action allow --cidr ::/0"),
                {"given twice"});
  require_error(parse_rule_text("--direction egress --cidr 10.0.0.0/8 --action allow --colour red"),
                {"colour", "unknown"});
  require_error(rule_from_json(parse_json(R"({"direction": "egress", "cidr": "10.0.0.0/8",
      "action": "allow", "ports": -1, "protocol": "tcp"})").value()), {"ports"});
  require_error(rule_from_json(parse_json(R"({"direction": "egress", "cidr": "10.0.0.0/8",
      "action": "allow", "prots": "80"})").value()), {"prots", "unknown"});

  auto set = ruleset_from_json(parse_json(R"({"rules": [{"direction": "egress", "action": "allow",
      "cidr": "1.2.3.4/33"}]})").value());
  REQUIRE_FALSE(set);
  CHECK(set.error().message().find("rules[0]") != std::string::npos);
  CHECK(set.error().message().find("cidr '1.2.3.4/33'") != std::string::npos);

  RuleSet dup;
  dup.rules = {rule("--id x --direction egress --cidr 1.0.0.0/8 --action allow"),
               rule("--id x --direction egress --cidr 2.0.0.0/8 --action deny")};
  auto e = effective_rules(dup);
  REQUIRE_FALSE(e);
  CHECK(e.error().message().find("id 'x'") != std::string::npos);
}

TEST_CASE("rule sets round-trip through JSON") {
  auto set = ruleset_from_json(parse_json(R"({"rules": [
      {"id": "web", "direction": "ingress", "cidr": "0.0.0.0/0", "protocol": "tcp", "ports": "8000-8100", "action": "allow"}],
      "default_deny": false, "egress_default": "deny"})").value());
  REQUIRE(set);
  CHECK_FALSE(set->default_deny);
  CHECK(set->egress_default == Action::deny);
  CHECK(set->ingress_default == Action::deny);
  auto again = ruleset_from_json(to_json(*set));
  REQUIRE(again);
  CHECK(again->rules == set->rules);
  CHECK(again->egress_default == Action::deny);
  CHECK_FALSE(ruleset_from_json(parse_json(R"({"rules": [], "egress_default": "maybe"})").value()));
  CHECK_FALSE(ruleset_from_json(parse_json(R"({"rulez": []})").value()));
}

TEST_CASE("the default set denies loopback, private, CGNAT, link-local, metadata, multicast, ULA") {
  CompiledPolicy p = compiled({});
  const auto E = Direction::egress;
  for (auto addr : {"127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
                    "100.64.0.1", "100.127.255.255", "169.254.169.254", "169.254.1.1", "224.0.0.251",
                    "239.255.255.250", "255.255.255.255", "0.0.0.0", "::1", "fc00::1", "fd12:3456::1",
                    "fe80::1", "ff02::1", "::ffff:10.0.0.1", "::"}) {
    INFO(addr);
    Verdict v = decide(p, packet(E, addr, IPPROTO_TCP, 443));
    CHECK(v.action == Action::deny);
    CHECK(rule_id(p, v).rfind("default:", 0) == 0);
  }
  for (auto addr : {"1.1.1.1", "172.32.0.1", "172.15.255.255", "100.128.0.1", "192.169.0.1",
                    "198.51.100.7", "2001:db8::1", "2606:4700::1111", "fe00::1"}) {
    INFO(addr);
    Verdict v = decide(p, packet(E, addr, IPPROTO_UDP, 53));
    CHECK(v.action == Action::allow);
    CHECK(v.rule == -1);
  }
  // Ingress: deny unless a rule allows, private or not.
  CHECK(decide(p, packet(Direction::ingress, "1.1.1.1", IPPROTO_TCP, 22)).action == Action::deny);
  CHECK(decide(p, packet(Direction::ingress, "10.0.0.1", IPPROTO_TCP, 22)).rule == -1);
  // Turned off, private addresses take the direction's default.
  CHECK(decide(compiled({}, false), packet(E, "10.1.2.3", IPPROTO_TCP, 443)).action == Action::allow);
}

TEST_CASE("an allow rule of higher priority overrides the default deny") {
  CompiledPolicy p = compiled({rule("--id db --direction egress --cidr 10.0.0.0/8 --proto tcp --ports 5432 --action allow"),
                               rule("--id meta --direction egress --cidr 169.254.169.254/32 --action allow --priority 60000")});
  Verdict db = decide(p, packet(Direction::egress, "10.9.8.7", IPPROTO_TCP, 5432));
  CHECK(db.action == Action::allow);
  CHECK(rule_id(p, db) == "db");
  // Other ports and protocols of the range stay denied by the default.
  CHECK(rule_id(p, decide(p, packet(Direction::egress, "10.9.8.7", IPPROTO_TCP, 5433))) == "default:private-10");
  CHECK(rule_id(p, decide(p, packet(Direction::egress, "10.9.8.7", IPPROTO_UDP, 5432))) == "default:private-10");
  // A lower priority (larger number) than the default does not override it.
  CHECK(rule_id(p, decide(p, packet(Direction::egress, "169.254.169.254", IPPROTO_TCP, 80))) == "default:link-local");
}

TEST_CASE("decision order: priority, then deny on a tie, then the order given; longest prefix does not beat priority") {
  CompiledPolicy p = compiled({
      rule("--id allow-host --direction egress --cidr 198.51.100.7/32 --action allow --priority 20"),
      rule("--id deny-net --direction egress --cidr 198.51.100.0/24 --action deny --priority 10"),
      rule("--id allow-tie --direction egress --cidr 203.0.113.0/24 --proto udp --action allow --priority 30"),
      rule("--id deny-tie --direction egress --cidr 203.0.113.0/24 --proto udp --action deny --priority 30"),
      rule("--id first --direction egress --cidr 192.0.2.0/24 --proto tcp --ports 1-1000 --action allow --priority 40"),
      rule("--id second --direction egress --cidr 192.0.2.0/24 --proto tcp --ports 80 --action deny --priority 41"),
      rule("--id host-web --direction egress --cidr 192.0.2.9/32 --proto tcp --ports 8080 --action deny --priority 5"),
  }, false);
  // The /24 deny has the smaller number, so it wins over the more specific /32 allow.
  CHECK(rule_id(p, decide(p, packet(Direction::egress, "198.51.100.7", IPPROTO_TCP, 80))) == "deny-net");
  CHECK(rule_id(p, decide(p, packet(Direction::egress, "203.0.113.1", IPPROTO_UDP, 53))) == "deny-tie");
  CHECK(rule_id(p, decide(p, packet(Direction::egress, "203.0.113.1", IPPROTO_TCP, 53))) == "default");
  CHECK(rule_id(p, decide(p, packet(Direction::egress, "192.0.2.1", IPPROTO_TCP, 80))) == "first");
  // 192.0.2.9 hits the /32 entry; its list still holds the /24 rules that cover it.
  CHECK(rule_id(p, decide(p, packet(Direction::egress, "192.0.2.9", IPPROTO_TCP, 80))) == "first");
  CHECK(rule_id(p, decide(p, packet(Direction::egress, "192.0.2.9", IPPROTO_TCP, 8080))) == "host-web");
  CHECK(rule_id(p, decide(p, packet(Direction::egress, "192.0.2.9", IPPROTO_TCP, 2000))) == "default");
  // Directions are separate.
  CHECK(rule_id(p, decide(p, packet(Direction::ingress, "198.51.100.7", IPPROTO_TCP, 80))) == "default");
}

TEST_CASE("icmp means ICMPv6 for IPv6 rules; any matches every protocol") {
  CompiledPolicy p = compiled({rule("--id ping4 --direction ingress --cidr 0.0.0.0/0 --proto icmp --action allow"),
                               rule("--id ping6 --direction ingress --cidr ::/0 --proto icmp --action allow"),
                               rule("--id all --direction ingress --cidr 2001:db8::/32 --action allow --priority 2000")});
  CHECK(rule_id(p, decide(p, packet(Direction::ingress, "192.0.2.1", IPPROTO_ICMP))) == "ping4");
  CHECK(rule_id(p, decide(p, packet(Direction::ingress, "2001:db8::1", IPPROTO_ICMPV6))) == "ping6");
  CHECK(rule_id(p, decide(p, packet(Direction::ingress, "2001:db8::1", IPPROTO_ICMP))) == "all");
  CHECK(rule_id(p, decide(p, packet(Direction::ingress, "2001:db8::1", 132, 0))) == "all");
  CHECK(rule_id(p, decide(p, packet(Direction::ingress, "2001:db9::1", IPPROTO_TCP, 1))) == "default");
}

TEST_CASE("compiled lists hold every covering rule") {
  CompiledPolicy p = compiled({rule("--id a --direction egress --cidr 10.1.0.0/16 --action allow"),
                               rule("--id b --direction egress --cidr 10.1.2.0/24 --proto tcp --ports 22 --action deny")});
  const LpmEntry* e24 = nullptr;
  for (const auto& e : p.entries)
    if (e.prefix.to_string() == "10.1.2.0/24") e24 = &e;
  REQUIRE(e24);
  REQUIRE(e24->rules.size() == 3);
  CHECK(p.rules[e24->rules[0].index].id == "b");  // priority 1000 tie: deny first
  CHECK(p.rules[e24->rules[1].index].id == "a");
  CHECK(p.rules[e24->rules[2].index].id == "default:private-10");
  CHECK(e24->rules[0].proto == IPPROTO_TCP);
  CHECK(e24->rules[0].port_lo == 22);
  CHECK(e24->rules[0].port_hi == 22);
  CHECK(e24->rules[1].proto == NX_PROTO_ANY);
}

TEST_CASE("limits: rules per set and rules covering one prefix") {
  RuleSet many;
  for (int i = 0; i < 300; ++i)
    many.rules.push_back(rule("--id r" + std::to_string(i) + " --direction egress --cidr 203.0.113." +
                              std::to_string(i % 250) + "/32 --proto tcp --ports " + std::to_string(i + 1) +
                              " --action allow"));
  auto r = compile(many);
  REQUIRE_FALSE(r);
  CHECK(r.error().is(Errc::too_large));

  RuleSet nested;
  for (int i = 0; i < 70; ++i)
    nested.rules.push_back(rule("--id n" + std::to_string(i) + " --direction egress --cidr 203.0.113.0/24 --proto tcp --ports " +
                                std::to_string(i + 1) + " --action allow"));
  r = compile(nested);
  REQUIRE_FALSE(r);
  CHECK(r.error().is(Errc::too_large));
  CHECK(r.error().message().find("203.0.113.0/24") != std::string::npos);
}

TEST_CASE("the compiled form agrees with the specification on random rule sets") {
  std::mt19937 rng(6);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const char* nets4[] = {"0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3/32",
                         "198.51.100.0/24", "198.51.100.128/25", "198.51.100.200/32"};
  const char* nets6[] = {"::/0", "2001:db8::/32", "2001:db8:1::/48", "2001:db8:1::5/128", "fc00::/7"};
  const char* hosts[] = {"10.1.2.3", "10.1.2.4", "10.1.9.9", "10.200.0.1", "198.51.100.200",
                         "198.51.100.129", "198.51.100.1", "8.8.8.8", "2001:db8:1::5", "2001:db8:1::6",
                         "2001:db8:2::1", "fd00::1", "2606::1"};
  const char* protos[] = {"tcp", "udp", "icmp", "any"};
  for (int round = 0; round < 200; ++round) {
    std::vector<Rule> rules;
    int n = 1 + pick(20);
    for (int i = 0; i < n; ++i) {
      std::string proto = protos[pick(4)];
      std::string text = "--id r" + std::to_string(i) + " --direction " + (pick(2) ? "egress" : "ingress") +
                         " --cidr " + (pick(2) ? nets4[pick(8)] : nets6[pick(5)]) + " --proto " + proto +
                         " --action " + (pick(2) ? "allow" : "deny") + " --priority " + std::to_string(pick(5));
      if ((proto == "tcp" || proto == "udp") && pick(2)) {
        int lo = 1 + pick(100);
        text += " --ports " + std::to_string(lo) + "-" + std::to_string(lo + pick(50));
      }
      rules.push_back(rule(text));
    }
    CompiledPolicy p = compiled(rules, pick(2) == 0);
    for (int k = 0; k < 40; ++k) {
      uint8_t proto_num[] = {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6, 47};
      PacketView pkt = packet(pick(2) ? Direction::egress : Direction::ingress, hosts[pick(13)],
                              proto_num[pick(5)], static_cast<uint16_t>(pick(160)));
      REQUIRE(evaluate(p, pkt) == evaluate_linear(p, pkt));
    }
  }
}
