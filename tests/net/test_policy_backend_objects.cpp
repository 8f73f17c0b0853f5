// SPDX-License-Identifier: Apache-2.0
// Part of the policy conformance suite (policy_harness.hpp): the checks that look at a
// backend's own kernel objects, tagged [ebpf] (tc filters, programs, maps) or [nftables]
// (chains, map entries, counters, leftovers of a dead process). The harness runs only the
// tagged checks of the backend under test.
#include <catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/json.hpp"
#include "tests/net/policy_harness.hpp"

using namespace nexus;
using namespace nexus::net;
using namespace nexus::net::testing;
using namespace std::chrono_literals;

namespace {

std::set<uint32_t> bpftool_ids(const char* what) {
  std::set<uint32_t> ids;
  auto j = parse_json(run(std::string("bpftool -j ") + what + " show"));
  if (!j || !j->is_array()) return ids;
  for (const auto& o : *j)
    if (o.contains("id")) ids.insert(o["id"].get<uint32_t>());
  return ids;
}

// A sandbox's chains in the policy table, as the nft program lists them (-y: numeric priorities).
std::string nft_policy_listing() { return run("nft -y list table inet nexus_policy"); }

}  // namespace

TEST_CASE("detach leaves no qdisc, filter, program or map behind", "[ebpf]") {
  auto tc = [](const std::string& args) { return run("tc " + args); };
  REQUIRE(tc("qdisc show dev nxh0").find("clsact") == std::string::npos);
  auto attached = attach(RuleSet{});
  EbpfPolicy* policy = attached->ebpf();
  REQUIRE(policy);
  auto progs = policy->prog_ids();
  auto maps = policy->map_ids();
  REQUIRE(progs.size() == 2);
  REQUIRE(maps.size() >= 5);
  for (auto id : progs) CHECK(id > 0);
  CHECK(tc("qdisc show dev nxh0").find("clsact") != std::string::npos);
  CHECK(tc("filter show dev nxh0 ingress").find("nx_egress") != std::string::npos);
  CHECK(tc("filter show dev nxh0 egress").find("nx_ingress") != std::string::npos);
  auto live = bpftool_ids("prog");
  for (auto id : progs) CHECK(live.count(id) == 1);

  // A second policy on the same interface is refused and does not disturb the first.
  auto second = EbpfPolicy::attach(g_topo.ifindex, RuleSet{});
  REQUIRE_FALSE(second);
  CHECK(second.error().is(Errc::already_exists));
  CHECK(tc("filter show dev nxh0 ingress").find("nx_egress") != std::string::npos);

  REQUIRE(policy->detach());
  CHECK(policy->prog_ids().empty());
  CHECK(tc("qdisc show dev nxh0").find("clsact") == std::string::npos);
  CHECK(tc("filter show dev nxh0 ingress").empty());
  CHECK(tc("filter show dev nxh0 egress").empty());
  // The kernel frees programs and maps once the last reference goes (deferred): poll.
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    auto p = bpftool_ids("prog"), m = bpftool_ids("map");
    gone = true;
    for (auto id : progs) gone &= p.count(id) == 0;
    for (auto id : maps) gone &= m.count(id) == 0;
    if (!gone) std::this_thread::sleep_for(50ms);
  }
  CHECK(gone);
  CHECK(policy->detach());  // idempotent
  CHECK_FALSE(policy->replace(RuleSet{}));

  // An existing clsact qdisc (someone else's) is left in place on detach.
  REQUIRE(tc("qdisc add dev nxh0 clsact").empty());
  {
    auto p2 = attach(RuleSet{});
    CHECK(tc("filter show dev nxh0 ingress").find("nx_egress") != std::string::npos);
  }
  CHECK(tc("filter show dev nxh0 ingress").empty());
  CHECK(tc("qdisc show dev nxh0").find("clsact") != std::string::npos);
  tc("qdisc del dev nxh0 clsact");
}

TEST_CASE("detach leaves no chain, map entry or counter behind; a second policy is refused", "[nftables]") {
  REQUIRE(run("nft list tables").find("nexus_policy") == std::string::npos);
  auto policy = attach(ruleset({"--id web --direction egress --cidr 198.51.100.0/24 --proto tcp --ports 80 --action allow"}));
  std::string listing = nft_policy_listing();
  CHECK(listing.find("chain sb_nxh0_e") != std::string::npos);
  CHECK(listing.find("chain sb_nxh0_i") != std::string::npos);
  CHECK(listing.find("hook prerouting priority -150") != std::string::npos);  // before dstnat
  CHECK(listing.find("hook postrouting priority 150") != std::string::npos);  // after srcnat
  CHECK(listing.find("\"nxh0\" : jump sb_nxh0_e") != std::string::npos);

  // A second policy on the same interface is refused and does not disturb the first.
  auto second = try_attach(RuleSet{});
  REQUIRE_FALSE(second);
  CHECK(second.error().is(Errc::already_exists));
  CHECK(nft_policy_listing() == listing);

  // Another interface's policy lives beside it; detaching one leaves the other whole.
  REQUIRE(sh("ip link add nxh1 type veth peer name nxh1p"));
  auto other = try_attach(RuleSet{}, 0, "nxh1");
  REQUIRE(other);
  auto names = nft::NftPolicy::list_interfaces();
  REQUIRE(names);
  CHECK(*names == std::vector<std::string>{"nxh0", "nxh1"});
  REQUIRE(policy->detach());
  listing = nft_policy_listing();
  CHECK(listing.find("nxh0") == std::string::npos);
  CHECK(listing.find("sb_nxh1_e") != std::string::npos);
  REQUIRE((*other)->detach());
  // The last one takes the table with it.
  CHECK(run("nft list tables").find("nexus_policy") == std::string::npos);
  CHECK(policy->detach());  // idempotent
  CHECK_FALSE(policy->replace(RuleSet{}));
  sh("ip link del nxh1");
}

TEST_CASE("chains left by a process that died are found and removed", "[nftables]") {
  const RuleSet set = ruleset({"--id t --direction egress --cidr 198.51.100.1 --action allow"});
  pid_t pid = ::fork();
  if (pid == 0) {
    auto p = nft::NftPolicy::attach("nxh0", set);
    if (!p) ::_exit(1);
    (void)p->release();  // never detached: as if nexusd were killed
    ::_exit(0);
  }
  int st = 0;
  REQUIRE(::waitpid(pid, &st, 0) == pid);
  REQUIRE((WIFEXITED(st) && WEXITSTATUS(st) == 0));
  auto names = nft::NftPolicy::list_interfaces();
  REQUIRE(names);
  CHECK(*names == std::vector<std::string>{"nxh0"});
  // The leftover keeps enforcing (and counting) with nobody holding it.
  auto s = listen_tcp(false, kHost4, 7060);
  CHECK(name(tcp_probe(true, kHost4, 7060, s.get(), never())) == std::string("delivered"));
  // It blocks a new policy, unless the new one takes over, which keeps the counts of the ids
  // it keeps.
  CHECK_FALSE(try_attach(RuleSet{}));
  {
    RuleSet next = set;
    next.rules.push_back(rule("--id u --direction egress --cidr 198.51.100.3 --action deny"));
    auto taken = nft::NftPolicy::attach("nxh0", next, true);
    REQUIRE(taken);
    auto packets = [&](const std::string& id) {
      auto counters = (*taken)->rule_counters();
      REQUIRE(counters);
      for (const auto& c : *counters)
        if (c.id == id) return c.counter.packets;
      FAIL("no rule " << id);
      return uint64_t{0};
    };
    const uint64_t before = packets("t");
    CHECK(before >= 2);  // counted before the take-over
    CHECK(packets("u") == 0);
    CHECK(name(tcp_probe(true, kHost4, 7060, s.get(), never())) == std::string("delivered"));
    CHECK(packets("t") > before);
    // One set of chains and counters: the old ones were replaced, not added to.
    const std::string listing = run("nft list table inet nexus_policy");
    auto occurrences = [&](const std::string& what) {
      size_t n = 0;
      for (size_t at = listing.find(what); at != std::string::npos; at = listing.find(what, at + 1)) ++n;
      return n;
    };
    CHECK(occurrences("chain sb_nxh0_e {") == 1);
    CHECK(occurrences("\tcounter c_nxh0_") == (*taken)->active().size() + 6);  // rules + the stat counters
    (void)taken->release();  // and dies again
  }
  REQUIRE(nft::NftPolicy::remove_interface("nxh0"));
  CHECK(run("nft list ruleset").find("nexus_policy") == std::string::npos);
  CHECK(nft::NftPolicy::remove_interface("nxh0"));  // nothing left: still ok
  names = nft::NftPolicy::list_interfaces();
  REQUIRE(names);
  CHECK(names->empty());
  auto policy = attach(RuleSet{});
  CHECK(policy->name() == "nftables");
}
