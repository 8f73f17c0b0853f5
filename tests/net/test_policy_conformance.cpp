// SPDX-License-Identifier: Apache-2.0
// The policy backends for real, one conformance suite for both: what every PolicyBackend must
// do to real TCP, UDP and ICMP through a sandbox's veth (policy_harness.hpp draws the
// namespaces). meson runs it once per backend: net-ebpf (--backend ebpf) and net-nft-policy
// (--backend nftables). Needs root (netns, CAP_NET_ADMIN, and CAP_BPF for eBPF) and iproute2;
// exits 77 with the reason otherwise.
#include <catch.hpp>

#include <poll.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "tests/net/policy_harness.hpp"

using namespace nexus;
using namespace nexus::net;
using namespace nexus::net::testing;
using namespace std::chrono_literals;

TEST_CASE("egress TCP: an allowed port connects, a denied port does not; IPv4 and IPv6") {
  auto policy = attach(ruleset({"--id web --direction egress --cidr 198.51.100.0/24 --proto tcp --ports 7000-7001 --action allow",
                                "--id no-7002 --direction egress --cidr 198.51.100.0/24 --proto tcp --ports 7002 --action deny",
                                "--id web6 --direction egress --cidr 2001:db8:1::/64 --proto tcp --ports 7000 --action allow",
                                "--id no6 --direction egress --cidr 2001:db8:1::/64 --proto tcp --ports 7002 --action deny"}));
  auto s7000 = listen_tcp(false, "0.0.0.0", 7000), s7002 = listen_tcp(false, "0.0.0.0", 7002);
  auto s7000v6 = listen_tcp(false, kHost6, 7000), s7002v6 = listen_tcp(false, kHost6, 7002);
  auto replies = [&] { return policy->stats()->ingress_reply.packets; };
  const uint64_t replies_before = replies();

  CHECK(name(tcp_probe(true, kHost4, 7000, s7000.get(), never())) == std::string("delivered"));
  CHECK(counter_of(*policy, "web").packets >= 2);  // SYN, ACK
  // The SYN-ACK came in through the ingress default deny as a reply of the sandbox's flow.
  CHECK(replies() > replies_before);
  CHECK(name(tcp_probe(true, kHost4, 7002, s7002.get(), rule_counts(*policy, "no-7002"))) == std::string("dropped"));
  CHECK(name(tcp_probe(true, kHost6, 7000, s7000v6.get(), never())) == std::string("delivered"));
  CHECK(name(tcp_probe(true, kHost6, 7002, s7002v6.get(), rule_counts(*policy, "no6"))) == std::string("dropped"));
  // Nothing reached the denied listeners.
  pollfd p[2] = {{s7002.get(), POLLIN, 0}, {s7002v6.get(), POLLIN, 0}};
  CHECK(::poll(p, 2, 0) == 0);
}

TEST_CASE("a CIDR deny blocks one address and not its neighbour") {
  auto policy = attach(ruleset({"--id block-3 --direction egress --cidr 198.51.100.3/32 --action deny"}));
  auto s = listen_tcp(false, "0.0.0.0", 7010);
  CHECK(name(tcp_probe(true, kHost4b, 7010, s.get(), rule_counts(*policy, "block-3"))) == std::string("dropped"));
  CHECK(name(tcp_probe(true, kHost4, 7010, s.get(), never())) == std::string("delivered"));
  CHECK(name(ping(true, kHost4b, rule_counts(*policy, "block-3"))) == std::string("dropped"));
  CHECK(name(ping(true, kHost4, never())) == std::string("delivered"));
}

TEST_CASE("UDP rules, both families") {
  auto policy = attach(ruleset({"--id dns --direction egress --cidr 198.51.100.1/32 --proto udp --ports 5300 --action allow",
                                "--id no-udp --direction egress --cidr 198.51.100.0/24 --proto udp --action deny --priority 2000",
                                "--id no-udp6 --direction egress --cidr 2001:db8:1::1/128 --proto udp --ports 5301 --action deny"}));
  auto u5300 = bind_udp(false, "0.0.0.0", 5300), u5301 = bind_udp(false, "0.0.0.0", 5301);
  auto u6 = bind_udp(false, kHost6, 5301);
  UniqueFd c(g_topo.sandbox_socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK));
  UniqueFd c6(g_topo.sandbox_socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK));
  CHECK(name(udp_probe(c.get(), kHost4, 5300, u5300.get(), never())) == std::string("delivered"));
  CHECK(name(udp_probe(c.get(), kHost4, 5301, u5301.get(), rule_counts(*policy, "no-udp"))) == std::string("dropped"));
  CHECK(name(udp_probe(c.get(), kHost4b, 5300, u5300.get(), rule_counts(*policy, "no-udp"))) == std::string("dropped"));
  CHECK(name(udp_probe(c6.get(), kHost6, 5301, u6.get(), rule_counts(*policy, "no-udp6"))) == std::string("dropped"));
  // A TCP rule does not match UDP: udp to 5300 via IPv6 has no rule, egress default allows.
  auto u6ok = bind_udp(false, kHost6, 5300);
  CHECK(name(udp_probe(c6.get(), kHost6, 5300, u6ok.get(), never())) == std::string("delivered"));
}

TEST_CASE("ICMP allow and deny, out and in") {
  auto policy = attach(ruleset({"--id no-ping6 --direction egress --cidr ::/0 --proto icmp --action deny",
                                "--id ping-in --direction ingress --cidr 198.51.100.1/32 --proto icmp --action allow"}));
  CHECK(name(ping(true, kHost4, never())) == std::string("delivered"));
  CHECK(name(ping(true, kHost6, rule_counts(*policy, "no-ping6"))) == std::string("dropped"));
  // Host to sandbox: allowed from .1, the ingress default denies .3 and IPv6.
  CHECK(name(ping(false, kSandbox4, never())) == std::string("delivered"));
  CHECK(counter_of(*policy, "ping-in").packets >= 1);
  CHECK(name(ping(false, kSandbox6, default_counts(*policy, Direction::ingress))) == std::string("dropped"));
}

TEST_CASE("ICMP errors about the sandbox's own flows come back (port unreachable, both families)") {
  auto policy = attach(RuleSet{});
  auto related = [&] { return policy->stats()->related.packets; };
  for (const char* ip : {kHost4, kHost6}) {
    INFO(ip);
    uint64_t before = related();
    Addr a = addr(ip, 5999);  // nothing listens: the host answers port unreachable
    UniqueFd c(g_topo.sandbox_socket(a.family(), SOCK_DGRAM | SOCK_NONBLOCK));
    REQUIRE(::connect(c.get(), reinterpret_cast<sockaddr*>(&a.ss), a.len) == 0);
    REQUIRE(::send(c.get(), "x", 1, 0) == 1);
    pollfd p{c.get(), POLLIN, 0};
    REQUIRE(::poll(&p, 1, 10000) == 1);  // POLLERR: the error reached the socket
    char buf[8];
    CHECK(::recv(c.get(), buf, sizeof(buf), 0) == -1);
    CHECK(errno == ECONNREFUSED);
    CHECK(related() == before + 1);
  }
  CHECK(policy->stats()->ingress_default.packets == 0);
}

TEST_CASE("the link's own ICMPv6 (multicast listener discovery) passes, counted as such, not by a deny") {
  auto policy = attach(ruleset({"--id none-out --direction egress --cidr ::/0 --action deny"}));
  const uint64_t before = policy->stats()->ndp.packets;
  const uint64_t denied = counter_of(*policy, "none-out").packets;
  // An MLDv2 report to ff02::16 with no records, as the sandbox's kernel sends on joining a group.
  UniqueFd s(g_topo.sandbox_socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_ICMPV6));
  REQUIRE(s.get() >= 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "nxs0", sizeof(ifr.ifr_name) - 1);
  REQUIRE(::ioctl(s.get(), SIOCGIFINDEX, &ifr) == 0);  // the socket's namespace: the sandbox's
  int hops = 1;
  REQUIRE(::setsockopt(s.get(), IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops) == 0);
  sockaddr_in6 dst{};
  dst.sin6_family = AF_INET6;
  REQUIRE(::inet_pton(AF_INET6, "ff02::16", &dst.sin6_addr) == 1);
  dst.sin6_scope_id = static_cast<uint32_t>(ifr.ifr_ifindex);
  const uint8_t report[8] = {143, 0, 0, 0, 0, 0, 0, 0};  // the kernel fills the checksum in
  REQUIRE(::sendto(s.get(), report, sizeof report, 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst) == 8);
  for (int i = 0; i < 300 && policy->stats()->ndp.packets == before; ++i) std::this_thread::sleep_for(10ms);
  CHECK(policy->stats()->ndp.packets > before);
  CHECK(counter_of(*policy, "none-out").packets == denied);
  CHECK(policy->stats()->egress_default.packets == 0);
}

TEST_CASE("ingress: default deny, an allow rule opens one port; replies to it pass egress denies") {
  auto policy = attach(ruleset({"--id in-8080 --direction ingress --cidr 198.51.100.0/24 --proto tcp --ports 8080 --action allow",
                                "--id out-none --direction egress --cidr 198.51.100.1/32 --proto tcp --action deny"}));
  auto s8080 = listen_tcp(true, kSandbox4, 8080), s9090 = listen_tcp(true, kSandbox4, 9090);
  auto egress_replies = [&] { return policy->stats()->egress_reply.packets; };
  uint64_t before = egress_replies();
  CHECK(name(tcp_probe(false, kSandbox4, 8080, s8080.get(), never())) == std::string("delivered"));
  CHECK(egress_replies() > before);  // the SYN-ACK passed 'out-none' as a reply
  CHECK(name(tcp_probe(false, kSandbox4, 9090, s9090.get(), default_counts(*policy, Direction::ingress))) ==
        std::string("dropped"));
  // The sandbox itself cannot open TCP to .1 (the egress deny), replies or not.
  auto host = listen_tcp(false, kHost4, 7020);
  CHECK(name(tcp_probe(true, kHost4, 7020, host.get(), rule_counts(*policy, "out-none"))) == std::string("dropped"));
}

TEST_CASE("the private-range default deny, and an allow rule overriding it") {
  auto policy = attach(RuleSet{});
  auto s = listen_tcp(false, "0.0.0.0", 7030);
  auto s6 = listen_tcp(false, kHostUla6, 7030);
  CHECK(name(tcp_probe(true, kHostPrivate4, 7030, s.get(), rule_counts(*policy, "default:private-10"))) ==
        std::string("dropped"));
  CHECK(name(ping(true, kHostPrivate4, rule_counts(*policy, "default:private-10"))) == std::string("dropped"));
  CHECK(name(tcp_probe(true, kHostUla6, 7030, s6.get(), rule_counts(*policy, "default:ula6"))) == std::string("dropped"));
  CHECK(name(tcp_probe(true, kHost4, 7030, s.get(), never())) == std::string("delivered"));

  REQUIRE(policy->replace(ruleset({"--id db --direction egress --cidr 10.99.0.0/24 --proto tcp --ports 7030 --action allow"})));
  CHECK(name(tcp_probe(true, kHostPrivate4, 7030, s.get(), never())) == std::string("delivered"));
  CHECK(counter_of(*policy, "db").packets >= 2);
  // Only that port: ICMP to the same address stays denied.
  CHECK(name(ping(true, kHostPrivate4, rule_counts(*policy, "default:private-10"))) == std::string("dropped"));
}

TEST_CASE("priorities decide between overlapping rules, and a tie goes to deny") {
  auto policy = attach(ruleset({"--id range --direction egress --cidr 198.51.100.1/32 --proto tcp --ports 7040-7050 --action allow --priority 100",
                                "--id hole --direction egress --cidr 198.51.100.0/24 --proto tcp --ports 7045 --action deny --priority 50"}));
  auto s44 = listen_tcp(false, kHost4, 7044), s45 = listen_tcp(false, kHost4, 7045);
  CHECK(name(tcp_probe(true, kHost4, 7044, s44.get(), never())) == std::string("delivered"));
  CHECK(name(tcp_probe(true, kHost4, 7045, s45.get(), rule_counts(*policy, "hole"))) == std::string("dropped"));
  // The deny moved below the allow: 7045 opens.
  REQUIRE(policy->replace(ruleset({"--id range --direction egress --cidr 198.51.100.1/32 --proto tcp --ports 7040-7050 --action allow --priority 100",
                                   "--id hole --direction egress --cidr 198.51.100.0/24 --proto tcp --ports 7045 --action deny --priority 150"})));
  CHECK(name(tcp_probe(true, kHost4, 7045, s45.get(), never())) == std::string("delivered"));
  // Same priority: deny wins.
  REQUIRE(policy->replace(ruleset({"--id range --direction egress --cidr 198.51.100.1/32 --proto tcp --ports 7040-7050 --action allow --priority 100",
                                   "--id hole --direction egress --cidr 198.51.100.0/24 --proto tcp --ports 7045 --action deny --priority 100"})));
  CHECK(name(tcp_probe(true, kHost4, 7045, s45.get(), rule_counts(*policy, "hole"))) == std::string("dropped"));
}

TEST_CASE("counters count the packets and bytes of the matching rule") {
  auto policy = attach(ruleset({"--id count --direction egress --cidr 198.51.100.1/32 --proto udp --ports 5400 --action allow",
                                "--id other --direction egress --cidr 198.51.100.1/32 --proto udp --ports 5401 --action allow",
                                "--id count6 --direction egress --cidr 2001:db8:1::1/128 --proto udp --ports 5400 --action allow"}));
  auto u = bind_udp(false, kHost4, 5400), u6 = bind_udp(false, kHost6, 5400);
  UniqueFd c(g_topo.sandbox_socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK));
  UniqueFd c6(g_topo.sandbox_socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK));
  for (int i = 0; i < 5; ++i) REQUIRE(name(udp_probe(c.get(), kHost4, 5400, u.get(), never(), 100)) == std::string("delivered"));
  for (int i = 0; i < 3; ++i) REQUIRE(name(udp_probe(c6.get(), kHost6, 5400, u6.get(), never(), 200)) == std::string("delivered"));
  // IPv4 20 + UDP 8 + payload; IPv6 40 + UDP 8 + payload; plus Ethernet 14 for eBPF (packet
  // counts are the same for both backends, byte counts differ by the link header).
  const uint64_t l2 = link_header_bytes();
  Counter v4 = counter_of(*policy, "count"), v6 = counter_of(*policy, "count6");
  CHECK(v4.packets == 5);
  CHECK(v4.bytes == 5 * (l2 + 20 + 8 + 100));
  CHECK(v6.packets == 3);
  CHECK(v6.bytes == 3 * (l2 + 40 + 8 + 200));
  CHECK(counter_of(*policy, "other").packets == 0);
  // Counters stay with the rule id across a replace that keeps it.
  REQUIRE(policy->replace(ruleset({"--id new --direction egress --cidr 198.51.100.3/32 --action deny",
                                   "--id count --direction egress --cidr 198.51.100.1/32 --proto udp --ports 5400 --action allow"})));
  REQUIRE(name(udp_probe(c.get(), kHost4, 5400, u.get(), never(), 100)) == std::string("delivered"));
  CHECK(counter_of(*policy, "count").packets == 6);
  CHECK(counter_of(*policy, "count").bytes == 6 * (l2 + 20 + 8 + 100));
  CHECK(counter_of(*policy, "new").packets == 0);
}

TEST_CASE("rules replaced while traffic flows: no packet sees a half-written set") {
  // Egress default deny and a private destination: only the allow rule lets the flow through,
  // so a moment without it (or with an empty trie) would drop datagrams.
  auto flow_set = [](int variant) {
    RuleSet set = ruleset({"--id flow --direction egress --cidr 10.99.0.1/32 --proto udp --ports 5500 --action allow --priority " +
                           std::to_string(10 + variant)});
    for (int i = 0; i < variant % 7; ++i)
      set.rules.push_back(rule("--id junk" + std::to_string(i) + " --direction egress --cidr 203.0.113." +
                               std::to_string(i) + "/32 --action deny"));
    set.egress_default = Action::deny;
    return set;
  };
  auto policy = attach(flow_set(0));
  auto server = bind_udp(false, kHostPrivate4, 5500);
  UniqueFd c(g_topo.sandbox_socket(AF_INET, SOCK_DGRAM));
  Addr dst = addr(kHostPrivate4, 5500);

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> sent{0}, received{0};
  std::thread receiver([&] {
    char buf[64];
    while (!stop.load()) {
      pollfd p{server.get(), POLLIN, 0};
      if (::poll(&p, 1, 20) > 0)
        while (::recv(server.get(), buf, sizeof(buf), MSG_DONTWAIT) > 0) ++received;
    }
  });
  std::thread sender([&] {
    while (!stop.load()) {
      if (::sendto(c.get(), "seq", 3, 0, reinterpret_cast<sockaddr*>(&dst.ss), dst.len) == 3) ++sent;
      std::this_thread::sleep_for(200us);  // pacing, so the receiver keeps up
    }
  });
  int replaced = 0;
  for (int v = 1; v <= 40; ++v) {
    auto r = policy->replace(flow_set(v));
    if (!r) FAIL_CHECK("replace: " << r.error().message());
    ++replaced;
    std::this_thread::sleep_for(5ms);
  }
  stop = true;
  sender.join();
  // Everything sent must arrive; wait while it still trickles in.
  uint64_t last = 0;
  for (int idle = 0; idle < 50 && received.load() < sent.load(); ++idle) {
    pollfd p{server.get(), POLLIN, 0};
    if (::poll(&p, 1, 20) > 0) {
      char buf[64];
      while (::recv(server.get(), buf, sizeof(buf), MSG_DONTWAIT) > 0) ++received;
    }
    if (received.load() != last) idle = 0, last = received.load();
  }
  receiver.join();
  CHECK(replaced == 40);
  CHECK(policy->generation() == 40);
  INFO("sent " << sent.load() << " received " << received.load());
  CHECK(sent.load() > 100);
  CHECK(received.load() == sent.load());
  CHECK(policy->stats()->egress_default.packets == 0);
  CHECK(counter_of(*policy, "flow").packets == sent.load());

  // And a replace that denies the flow takes effect for the next datagram.
  RuleSet deny = flow_set(41);
  deny.rules[0].action = Action::deny;
  REQUIRE(policy->replace(deny));
  CHECK(name(udp_probe(c.get(), kHostPrivate4, 5500, server.get(), rule_counts(*policy, "flow"))) == std::string("dropped"));
}

// Whether the backend left anything on nxh0 (for the refusal checks).
static bool backend_left_something() {
  if (g_kind == Kind::ebpf) return run("tc qdisc show dev nxh0").find("clsact") != std::string::npos;
  return run("nft list tables").find("nexus_policy") != std::string::npos;
}

TEST_CASE("bad rules and a missing interface are refused before anything is attached") {
  RuleSet bad;
  bad.rules.push_back(rule("--id a --direction egress --cidr 10.0.0.0/8 --action allow"));
  bad.rules.push_back(rule("--id a --direction egress --cidr 11.0.0.0/8 --action allow"));
  auto p = try_attach(bad);
  REQUIRE_FALSE(p);
  CHECK(p.error().is(Errc::invalid_argument));
  CHECK_FALSE(backend_left_something());
  auto q = try_attach(RuleSet{}, 99999, "nxnone99999");
  REQUIRE_FALSE(q);
  INFO(q.error().message());
  CHECK(q.error().message().find("99999") != std::string::npos);
  CHECK_FALSE(backend_left_something());
  auto policy = attach(RuleSet{});
  CHECK_FALSE(policy->replace(bad));
  CHECK(policy->generation() == 0);
}

TEST_CASE("without CAP_BPF and CAP_NET_ADMIN the attach fails with permission_denied") {
  pid_t pid = ::fork();
  if (pid == 0) {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    ::syscall(SYS_capget, &hdr, data);
    for (int cap : {CAP_BPF, CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_PERFMON}) data[cap / 32].effective &= ~(1u << (cap % 32));
    if (::syscall(SYS_capset, &hdr, data) != 0) ::_exit(3);
    auto p = try_attach(RuleSet{});
    if (p) ::_exit(1);
    std::fprintf(stderr, "(expected) %s\n", p.error().message().c_str());
    ::_exit(p.error().is(Errc::permission_denied) ? 0 : 2);
  }
  int st = 0;
  REQUIRE(::waitpid(pid, &st, 0) == pid);
  REQUIRE(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
}
