// SPDX-License-Identifier: Apache-2.0
// net/egress domain rules and the per-address decision: wildcard matching, validation
// messages, the layer order, the private-address check and the CIDR fallback.
#include <catch.hpp>

#include "net/egress/directory.hpp"
#include "net/egress/domain.hpp"
#include "net/egress/global_policy.hpp"

using namespace nexus;
using namespace nexus::net;
using namespace nexus::net::egress;

namespace {

DomainPattern pat(std::string_view s) {
  auto p = DomainPattern::parse(s);
  INFO(s);
  REQUIRE(p);
  return *p;
}

DomainLayer layer(std::vector<std::string> allow, std::vector<std::string> deny) {
  auto a = DomainList::parse(allow, "allow");
  auto d = DomainList::parse(deny, "deny");
  REQUIRE(a);
  REQUIRE(d);
  return {*a, *d};
}

Endpoint ep(std::string_view ip, uint16_t port) {
  auto e = Endpoint::parse_ip(ip, port);
  REQUIRE(e);
  return *e;
}

}  // namespace

TEST_CASE("wildcards match subdomains only, bare names only themselves", "[domain]") {
  auto w = pat("*.openai.com");
  CHECK(w.matches("api.openai.com"));
  CHECK(w.matches("a.b.openai.com"));
  CHECK_FALSE(w.matches("openai.com"));
  CHECK_FALSE(w.matches("evilopenai.com"));
  CHECK_FALSE(w.matches("openai.com.evil.net"));
  auto b = pat("openai.com");
  CHECK(b.matches("openai.com"));
  CHECK_FALSE(b.matches("api.openai.com"));
}

TEST_CASE("patterns and hosts are case-insensitive and ignore a trailing dot", "[domain]") {
  auto p = pat("*.OpenAI.COM.");
  CHECK(p.to_string() == "*.openai.com");
  auto h = normalize_host("API.OpenAI.com.");
  REQUIRE(h);
  CHECK(*h == "api.openai.com");
  CHECK(p.matches(*h));
  auto v6 = normalize_host("[2001:DB8::1]");
  REQUIRE(v6);
  CHECK(*v6 == "2001:db8::1");
  CHECK(is_ip_literal(*v6));
}

TEST_CASE("bad patterns are errors naming the pattern", "[domain]") {
  auto bad = [](std::string_view s, std::string_view why) {
    auto p = DomainPattern::parse(s);
    INFO(s);
    REQUIRE_FALSE(p);
    CHECK(p.error().is(Errc::invalid_argument));
    CHECK_THAT(p.error().message(), Catch::Contains(std::string(why)));
  };
  bad("", "is empty");
  bad("a..b", "empty label");
  bad(".a.b", "empty label");
  bad("*", "'*'");
  bad("*.", "nothing after");
  bad("a.*.b", "'*'");
  bad("api*.b.com", "'*'");
  bad("**.b.com", "'*'");
  bad("a b.com", "bad character");
  bad("a/b.com", "bad character");
  bad("-a.com", "'-'");
  bad(std::string(64, 'a') + ".com", "label longer");
  std::string long_name;
  while (long_name.size() < 260) long_name += "abcdefghi.";
  long_name += "com";
  bad(long_name, "longer than 253");
  auto list = DomainList::parse({"ok.com", "bad..com"}, "allow");
  REQUIRE_FALSE(list);
  CHECK_THAT(list.error().message(), Catch::StartsWith("allow[1]: domain pattern 'bad..com'"));
}

TEST_CASE("deny wins within a layer and the sandbox layer comes first", "[domain]") {
  DomainLayer sandbox = layer({"*.example.com", "pypi.org"}, {"bad.example.com"});
  DomainLayer global = layer({"*.openai.com"}, {"pypi.org", "*.evil.test", "api.openai.com"});
  CHECK(decide_domain(sandbox, global, "bad.example.com").verdict == DomainVerdict::deny);
  CHECK(decide_domain(sandbox, global, "x.example.com").verdict == DomainVerdict::allow);
  auto d = decide_domain(sandbox, global, "pypi.org");  // the sandbox's allow before the global deny
  CHECK(d.verdict == DomainVerdict::allow);
  CHECK(d.layer == "sandbox");
  CHECK(d.pattern == "pypi.org");
  auto g = decide_domain(sandbox, global, "api.openai.com");
  CHECK(g.verdict == DomainVerdict::deny);
  CHECK(g.layer == "global");
  CHECK(decide_domain(sandbox, global, "chat.openai.com").verdict == DomainVerdict::allow);
  CHECK(decide_domain(sandbox, global, "a.evil.test").verdict == DomainVerdict::deny);
  CHECK(decide_domain(sandbox, global, "other.org").verdict == DomainVerdict::none);
}

TEST_CASE("the address check: private addresses, CIDR rules, and a domain allow over a CIDR deny", "[decision]") {
  SandboxDirectory dir;
  SandboxPolicy p;
  p.id = "sb1";
  p.ipv4 = "10.88.0.2";
  auto deny_all = parse_rule_text("--direction egress --cidr 0.0.0.0/0 --action deny --id deny-all");
  auto allow_db = parse_rule_text("--direction egress --cidr 10.1.0.0/16 --proto tcp --ports 5432 --action allow --priority 10 --id db");
  REQUIRE(deny_all);
  REQUIRE(allow_db);
  p.rules.rules = {*deny_all, *allow_db};
  REQUIRE(dir.put(p));
  auto sb = dir.find(ep("10.88.0.2", 1234));
  REQUIRE(sb);
  CHECK(sb->policy.id == "sb1");
  CHECK_FALSE(dir.find(ep("10.88.0.6", 1)));

  // No domain rule matched: the CIDR rules decide (deny 0.0.0.0/0).
  auto v = check_address(*sb, false, ep("198.51.100.10", 443));
  CHECK_FALSE(v.allowed);
  CHECK_THAT(v.reason, Catch::Contains("deny-all"));
  // A domain allow (allowOut pypi.org) beats the sandbox's CIDR deny ...
  CHECK(check_address(*sb, true, ep("198.51.100.10", 443)).allowed);
  // ... but never the private-address check (DNS rebinding to 10.1.2.3).
  auto priv = check_address(*sb, true, ep("10.1.2.3", 80));
  CHECK_FALSE(priv.allowed);
  CHECK_THAT(priv.reason, Catch::Contains("private"));
  CHECK_FALSE(check_address(*sb, true, ep("169.254.169.254", 80)).allowed);
  CHECK_FALSE(check_address(*sb, true, ep("127.0.0.1", 80)).allowed);
  CHECK_FALSE(check_address(*sb, true, ep("::ffff:10.0.0.1", 80)).allowed);
  CHECK_FALSE(check_address(*sb, true, ep("fd00::1", 80)).allowed);
  // A user allow with a lower priority number opens that private range and port only.
  CHECK(check_address(*sb, true, ep("10.1.2.3", 5432)).allowed);
  CHECK_FALSE(check_address(*sb, true, ep("10.1.2.3", 5433)).allowed);

  // Replacing by id moves the address; a second sandbox cannot take a used one.
  SandboxPolicy q;
  q.id = "sb2";
  q.ipv4 = "10.88.0.2";
  auto taken = dir.put(q);
  REQUIRE_FALSE(taken);
  CHECK(taken.error().is(Errc::already_exists));
  p.ipv4 = "10.88.0.6";
  REQUIRE(dir.put(p));
  CHECK_FALSE(dir.find(ep("10.88.0.2", 1)));
  CHECK(dir.find(ep("10.88.0.6", 1)));
  CHECK(dir.remove("sb1"));
  CHECK_FALSE(dir.find(ep("10.88.0.6", 1)));
  SandboxPolicy bad;
  bad.id = "x";
  bad.ipv4 = "fd00::2";
  CHECK_FALSE(dir.put(bad));
}

TEST_CASE("E2B allowOut/denyOut split into CIDRs and domains", "[domain]") {
  auto s = split_e2b_network({"pypi.org", "*.pythonhosted.org", "8.8.8.8"}, {"0.0.0.0/0"});
  REQUIRE(s);
  CHECK(s->cidrs_deny == std::vector<Cidr>{*Cidr::parse("0.0.0.0/0")});
  CHECK(s->cidrs_allow == std::vector<Cidr>{*Cidr::parse("8.8.8.8")});
  CHECK(s->domains.allow.to_strings() == std::vector<std::string>{"pypi.org", "*.pythonhosted.org"});
  auto bad = split_e2b_network({"pypi..org"}, {});
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error().message(), Catch::StartsWith("allowOut[0]"));
  auto bad_cidr = split_e2b_network({}, {"300.1.2.3/8"}, "allow_out", "deny_out");
  REQUIRE_FALSE(bad_cidr);
  CHECK_THAT(bad_cidr.error().message(), Catch::StartsWith("deny_out[0] '300.1.2.3/8'"));
}
