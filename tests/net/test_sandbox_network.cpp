// SPDX-License-Identifier: Apache-2.0
// A sandbox's network plumbing for real: namespace, veth pair, addresses, route, then removal.
// The test process first moves into a network and mount namespace of its own, so whatever it
// makes (interfaces, the shared netns directory, bind mounts) lives and dies with it and the
// host's own namespace is never touched. Needs root; exits 77 with the reason otherwise.
#define CATCH_CONFIG_RUNNER
#include <catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "common/unique_fd.hpp"
#include "net/sandbox_network.hpp"
#include "tests/net/netns_support.hpp"

using namespace nexus;
using namespace nexus::net::testing;
using namespace nexus::net;

namespace {

const std::string kNetnsDir = "/tmp/nexus-test-netns";

// TCP from the sandbox to a listener on the host side of its veth.
bool tcp_reaches_host(const SandboxNetwork& net, uint16_t port) {
  UniqueFd l(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int one = 1;
  ::setsockopt(l.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, net.addresses.host4.c_str(), &a.sin_addr);
  if (::bind(l.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(l.get(), 4) != 0) return false;
  UniqueFd c = socket_in(net.netns_path, AF_INET, SOCK_STREAM, 0);
  if (!c) return false;
  if (::connect(c.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return false;
  pollfd p{l.get(), POLLIN, 0};
  if (::poll(&p, 1, 2000) != 1) return false;
  sockaddr_in peer{};
  socklen_t len = sizeof peer;
  UniqueFd s(::accept(l.get(), reinterpret_cast<sockaddr*>(&peer), &len));
  char text[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &peer.sin_addr, text, sizeof text);
  return s && net.addresses.sandbox4 == text;  // the sandbox speaks from its own address
}

}  // namespace

TEST_CASE("the address pool cuts /30 blocks and checks its input", "[unit]") {
  auto pool = AddressPool::parse("10.88.0.0/16");
  REQUIRE(pool);
  CHECK(pool->capacity() == 16384);
  auto a0 = pool->addresses(0);
  REQUIRE(a0);
  CHECK(a0->host4 == "10.88.0.1");
  CHECK(a0->sandbox4 == "10.88.0.2");
  CHECK_FALSE(a0->has_ipv6());
  auto a = pool->addresses(70);
  REQUIRE(a);
  CHECK(a->host4 == "10.88.1.25");
  CHECK(a->sandbox4 == "10.88.1.26");
  CHECK(pool->addresses(16383)->sandbox4 == "10.88.255.254");
  CHECK(pool->addresses(16384).error().code() == Errc::invalid_argument);

  auto both = AddressPool::parse("10.88.0.0/24", "fd4e:7800::/64");
  REQUIRE(both);
  CHECK(both->capacity() == 64);
  CHECK(both->addresses(0)->host6 == "fd4e:7800::1");
  CHECK(both->addresses(0)->sandbox6 == "fd4e:7800::2");
  CHECK(both->addresses(63)->sandbox6 == "fd4e:7800::fe");

  for (auto bad : {"10.88.0.0", "10.88.0.0/29", "10.88.0.1/16", "fd00::/64", "nonsense", "10.0.0.0/7"}) {
    auto r = AddressPool::parse(bad);
    INFO(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == Errc::invalid_argument);
    CHECK(r.error().message().find(bad) != std::string::npos);
  }
  CHECK_FALSE(AddressPool::parse("10.88.0.0/16", "10.0.0.0/8"));
}

TEST_CASE("auto IPv6: a unique-local /64 named after the IPv4 pool, when a default route exists", "[unit]") {
  CHECK(auto_pool6(*Cidr::parse("10.88.0.0/16")).to_string() == "fd6e:7875:a58::/64");
  CHECK(auto_pool6(*Cidr::parse("10.101.7.0/24")).to_string() == "fd6e:7875:a65:700::/64");
  CHECK(auto_pool6(*Cidr::parse("10.88.0.0/16")) != auto_pool6(*Cidr::parse("10.89.0.0/16")));
  auto pool = AddressPool::parse("10.88.0.0/16", auto_pool6(*Cidr::parse("10.88.0.0/16")).to_string());
  REQUIRE(pool);
  CHECK(pool->addresses(3)->sandbox6 == "fd6e:7875:a58::e");

  // /proc/net/ipv6_route as this kind of host shows it: a default route via eth0.
  const std::string routes =
      "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 "
      "00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n"
      "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
      "fd000000000000000000000000000001 00000400 00000003 00000000 00000003     eth0\n";
  // Without one, only the kernel's unreachable default on lo and a link-local route.
  const std::string none =
      "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 "
      "00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth0\n"
      "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
      "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";
  CHECK(has_ipv6_default_route(routes));
  CHECK_FALSE(has_ipv6_default_route(none));
  CHECK_FALSE(has_ipv6_default_route(""));
  CHECK_FALSE(has_ipv6_default_route("garbage\n\n00 00"));
  // A default route that is down (flags without RTF_UP) does not count.
  CHECK_FALSE(has_ipv6_default_route(
      "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
      "fd000000000000000000000000000001 00000400 00000003 00000000 00000002     eth0\n"));
}

TEST_CASE("host interface names fit IFNAMSIZ and tell sandboxes apart", "[unit]") {
  CHECK(host_ifname("sb_abcdefghijklmnopqrst") == "nxsabcdefghijkl");
  CHECK(host_ifname("sb_abcdefghijklmnopqrst").size() == 15);
  std::string odd = host_ifname("Weird.Id");
  CHECK(odd.size() == 15);
  CHECK(odd.substr(0, 3) == "nxs");
  CHECK(host_ifname("Weird.Id") != host_ifname("Weird.Ie"));
}

TEST_CASE("a sandbox network is made, reachable, and removed without a trace", "[root]") {
  auto pool = AddressPool::parse("10.88.0.0/16", "fd4e:7800::/64");
  REQUIRE(pool);
  NetworkSpec spec;
  spec.sandbox_id = "sb_testnet0000000000000";
  spec.netns_dir = kNetnsDir;
  spec.addresses = *pool->addresses(3);
  auto net = create_sandbox_network(spec);
  REQUIRE(net);
  CHECK(net->host_ifname == host_ifname(spec.sandbox_id));
  CHECK(net->host_ifindex > 0);
  CHECK(interface_index(net->host_ifname).value() == net->host_ifindex);

  std::string host_view = run("ip -o addr show dev " + net->host_ifname);
  CHECK(host_view.find("10.88.0.13/30") != std::string::npos);
  CHECK(host_view.find("fd4e:7800::d/126") != std::string::npos);
  std::string inside = run("nsenter --net=" + net->netns_path + " ip -o addr show");
  CHECK(inside.find("eth0    inet 10.88.0.14/30") != std::string::npos);
  CHECK(inside.find("fd4e:7800::e/126") != std::string::npos);
  CHECK(inside.find("lo    inet 127.0.0.1/8") != std::string::npos);
  std::string routes = run("nsenter --net=" + net->netns_path + " ip route show default");
  CHECK(routes.find("default via 10.88.0.13 dev eth0") != std::string::npos);
  std::string routes6 = run("nsenter --net=" + net->netns_path + " ip -6 route show default");
  CHECK(routes6.find("default via fd4e:7800::d dev eth0") != std::string::npos);
  CHECK(tcp_reaches_host(*net, 18080));
  // Inside, every group may ping (ICMP echo sockets need no CAP_NET_RAW); the host keeps its own.
  CHECK(run("nsenter --net=" + net->netns_path + " cat /proc/sys/net/ipv4/ping_group_range").find("0\t2147483647") == 0);

  // A second create for the same sandbox is refused and breaks nothing.
  auto again = create_sandbox_network(spec);
  REQUIRE_FALSE(again);
  CHECK(again.error().code() == Errc::already_exists);
  CHECK(tcp_reaches_host(*net, 18081));

  auto listed = list_host_interfaces();
  REQUIRE(listed);
  CHECK(*listed == std::vector<std::string>{net->host_ifname});
  CHECK(list_sandbox_namespaces(kNetnsDir) == std::vector<std::string>{spec.sandbox_id});

  REQUIRE(destroy_sandbox_network(spec.sandbox_id, kNetnsDir));
  CHECK(list_host_interfaces()->empty());
  CHECK(list_sandbox_namespaces(kNetnsDir).empty());
  CHECK(interface_index(net->host_ifname).error().code() == Errc::not_found);
  CHECK(run("grep -c " + kNetnsDir + "/ /proc/self/mountinfo").find('0') == 0);
  // Idempotent: removing again is fine.
  CHECK(destroy_sandbox_network(spec.sandbox_id, kNetnsDir));
}

TEST_CASE("200 create/destroy cycles leave no interface, namespace or mount", "[root]") {
  auto pool = AddressPool::parse("10.88.0.0/16");
  REQUIRE(pool);
  // What could keep a namespace alive after its destroy: a bind mount (checked below) or an
  // open descriptor of this process; other processes' namespaces are theirs (tests run beside).
  auto netns_fds = [] { return run("ls -l /proc/" + std::to_string(::getpid()) + "/fd | grep -c 'net:\\['"); };
  std::string before_ns = netns_fds();
  for (uint32_t i = 0; i < 200; ++i) {
    NetworkSpec spec;
    spec.sandbox_id = "sb_cycle" + std::to_string(i);
    spec.netns_dir = kNetnsDir;
    spec.addresses = *pool->addresses(i % 7);
    auto net = create_sandbox_network(spec);
    INFO(i);
    REQUIRE(net);
    REQUIRE(destroy_sandbox_network(spec.sandbox_id, kNetnsDir));
  }
  CHECK(list_host_interfaces()->empty());
  CHECK(list_sandbox_namespaces(kNetnsDir).empty());
  CHECK(run("ip -o addr show | grep -c 10.88.").find('0') == 0);
  CHECK(run("grep -c " + kNetnsDir + "/ /proc/self/mountinfo").find('0') == 0);
  CHECK(netns_fds() == before_ns);
}

TEST_CASE("bad ids are refused before anything is made", "[unit]") {
  NetworkSpec spec;
  spec.sandbox_id = "../evil";
  spec.netns_dir = kNetnsDir;
  spec.addresses.sandbox4 = "10.88.0.2";
  auto r = create_sandbox_network(spec);
  REQUIRE_FALSE(r);
  CHECK(r.error().code() == Errc::invalid_argument);
  CHECK(destroy_sandbox_network("a/b", kNetnsDir).error().code() == Errc::invalid_argument);
}

int main(int argc, char** argv) {
  if (::geteuid() != 0) return skip("needs root (network namespaces, veth pairs)");
  // A network and mount namespace of the test's own: nothing it makes reaches the host.
  if (::unshare(CLONE_NEWNET | CLONE_NEWNS) != 0 || ::mount("", "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) {
    return skip(std::string("cannot create a private network and mount namespace: ") + std::strerror(errno));
  }
  if (run("command -v ip").empty() || run("command -v nsenter").empty())  {
    return skip("needs ip (iproute2) and nsenter (util-linux)");
  }
  return Catch::Session().run(argc, argv);
}
