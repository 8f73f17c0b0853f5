// SPDX-License-Identifier: Apache-2.0
// The host firewall for real: table inet nexus in a "host" network namespace, two sandboxes
// and an "outside" joined to it by veth pairs, real TCP and UDP between them. Needs root and
// iproute2 and nftables; exits 77 with the reason otherwise.
//
//   sandbox A netns  eth0 10.88.0.2/30 fd4e:7800::2/126 ──veth── nxsfwtesta 10.88.0.1/30 fd4e:7800::1/126
//   sandbox B netns  eth0 10.88.0.6/30               ──veth── nxsfwtestb 10.88.0.5/30
//   outside netns    eth0 198.51.100.10/24 2001:db8:5::10/64 ──veth── up0 198.51.100.1/24 2001:db8:5::1/64
//                                                                  (host netns: the test lives here)
//
// The outside has no route back to the pool, so a reply reaches a sandbox only through the
// masquerade. A probe that expects a drop waits until the dropping rule's counter grows
// (status()), never for a fixed time, then checks the listener got nothing.
#define CATCH_CONFIG_RUNNER
#include <catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>

#include "common/unique_fd.hpp"
#include "net/nft/host_firewall.hpp"
#include "net/nft/nft_context.hpp"
#include "net/nft/nft_policy.hpp"
#include "tests/net/netns_support.hpp"

using namespace nexus;
using namespace nexus::net::testing;
using namespace nexus::net;
using namespace nexus::net::nft;
using namespace std::chrono_literals;

namespace {

// getsockopt names of the original destination of a NATed TCP connection (the values of
// SO_ORIGINAL_DST in linux/netfilter_ipv4.h and IP6T_SO_ORIGINAL_DST in ip6_tables.h, whose
// headers do not mix well with the C++ ones).
constexpr int kSoOriginalDst = 80;
constexpr int kIp6tSoOriginalDst = 80;

struct Topology {
  std::string host, a, b, outside;  // namespace names
  int orig_fd = -1, host_fd = -1, a_fd = -1, b_fd = -1, outside_fd = -1;
  pid_t reaper = -1;

  std::vector<std::string> names() const { return {host, a, b, outside}; }

  std::string setup() {
    const std::string id = std::to_string(::getpid());
    host = "nxfw-h-" + id, a = "nxfw-a-" + id, b = "nxfw-b-" + id, outside = "nxfw-o-" + id;
    reaper = start_reaper(netns_del_command(names()));
    if (reaper < 0) return "cannot start the reaper";
    if (!add_netns(names())) return "cannot create network namespaces (ip netns add)";
    const std::string H = "ip -n " + host + " ", A = "ip -n " + a + " ", B = "ip -n " + b + " ", O = "ip -n " + outside + " ";
    bool ok =
        sh("ip link add name nxsfwtesta netns " + host + " type veth peer name eth0 netns " + a) &&
        sh("ip link add name nxsfwtestb netns " + host + " type veth peer name eth0 netns " + b) &&
        sh("ip link add name up0 netns " + host + " type veth peer name eth0 netns " + outside) &&
        sh(H + "addr add 10.88.0.1/30 dev nxsfwtesta") && sh(H + "addr add fd4e:7800::1/126 dev nxsfwtesta nodad") &&
        sh(H + "addr add 10.88.0.5/30 dev nxsfwtestb") && sh(H + "addr add 198.51.100.1/24 dev up0") &&
        sh(H + "addr add 2001:db8:5::1/64 dev up0 nodad") && sh(A + "addr add 10.88.0.2/30 dev eth0") &&
        sh(A + "addr add fd4e:7800::2/126 dev eth0 nodad") && sh(B + "addr add 10.88.0.6/30 dev eth0") &&
        sh(O + "addr add 198.51.100.10/24 dev eth0") && sh(O + "addr add 2001:db8:5::10/64 dev eth0 nodad");
    for (const auto& n : names()) ok = ok && sh("ip -n " + n + " link set lo up");
    ok = ok && sh(H + "link set nxsfwtesta up") && sh(H + "link set nxsfwtestb up") && sh(H + "link set up0 up") &&
         sh(A + "link set eth0 up") && sh(B + "link set eth0 up") && sh(O + "link set eth0 up") &&
         sh(A + "route add default via 10.88.0.1") && sh(A + "-6 route add default via fd4e:7800::1") &&
         sh(B + "route add default via 10.88.0.5");
    if (!ok) return "cannot create the veth pairs";
    orig_fd = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    host_fd = open_netns(host), a_fd = open_netns(a), b_fd = open_netns(b), outside_fd = open_netns(outside);
    if (orig_fd < 0 || host_fd < 0 || a_fd < 0 || b_fd < 0 || outside_fd < 0) return "cannot open the namespaces";
    if (::setns(host_fd, CLONE_NEWNET) != 0) return "setns into the host namespace failed";
    return "";
  }

  void teardown() {
    if (orig_fd >= 0) ::setns(orig_fd, CLONE_NEWNET);
    del_netns(names());
  }
};

Topology g_topo;

// "198.51.100.1:80", "[2001:db8:5::1]:80"
std::string to_string(const sockaddr_storage& ss) {
  char ip[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    const auto* s4 = reinterpret_cast<const sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
    return std::string(ip) + ":" + std::to_string(ntohs(s4->sin_port));
  }
  const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&ss);
  ::inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
  return "[" + std::string(ip) + "]:" + std::to_string(ntohs(s6->sin6_port));
}

std::string host_of(const std::string& addr_port) {
  if (!addr_port.empty() && addr_port[0] == '[') return addr_port.substr(1, addr_port.find(']') - 1);
  return addr_port.substr(0, addr_port.rfind(':'));
}

// A non-blocking socket in the namespace `ns_fd`; the test fails when it cannot be made.
UniqueFd nb_socket_in(int ns_fd, int domain, int type) {
  UniqueFd fd = socket_in(ns_fd, domain, type | SOCK_NONBLOCK);
  REQUIRE(fd);
  return fd;
}

UniqueFd listen_tcp(int ns_fd, const char* ip, uint16_t port) {
  Addr a = addr(ip, port);
  UniqueFd fd = nb_socket_in(ns_fd, a.family(), SOCK_STREAM);
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (a.family() == AF_INET6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  REQUIRE(::bind(fd.get(), a.sa(), a.len) == 0);
  REQUIRE(::listen(fd.get(), 256) == 0);
  return fd;
}

UniqueFd bind_udp(int ns_fd, const char* ip, uint16_t port) {
  Addr a = addr(ip, port);
  UniqueFd fd = nb_socket_in(ns_fd, a.family(), SOCK_DGRAM);
  int one = 1;
  if (a.family() == AF_INET6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  ::setsockopt(fd.get(), SOL_IP, IP_RECVORIGDSTADDR, &one, sizeof(one));
  REQUIRE(::bind(fd.get(), a.sa(), a.len) == 0);
  return fd;
}

bool readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) == 1;
}

HostFirewallConfig config() {
  HostFirewallConfig c;
  c.pool6 = *Cidr::parse("fd4e:7800::/64");
  return c;
}

HostFirewall firewall() {
  auto fw = HostFirewall::create(config());
  REQUIRE(fw);
  return *fw;
}

void install() {
  auto fw = HostFirewall::create(config());
  REQUIRE(fw);
  auto r = fw->install({"nxsfwtesta", "nxsfwtestb"});
  if (!r) FAIL("install: " << r.error().message());
}

// The packets of the host table's rule with this comment.
uint64_t fw_packets(const std::string& comment) {
  auto st = firewall().status();
  REQUIRE(st);
  for (const auto& r : st->rules)
    if (r.comment == comment) return r.packets;
  FAIL("no rule '" << comment << "' in table inet nexus");
  return 0;
}

// Waits until the rule's counter grows past `before` (the deadline only ends a broken test).
bool counted(const std::string& comment, uint64_t before) {
  for (int i = 0; i < 500; ++i) {
    if (fw_packets(comment) > before) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

// A TCP connection attempt from a socket of `ns_fd` to ip:port; true once connected.
struct Connecting {
  UniqueFd fd;
  bool wait_connected(int timeout_ms = 5000) const {
    pollfd p{fd.get(), POLLOUT, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return false;
    int err = 0;
    socklen_t len = sizeof(err);
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    return err == 0;
  }
};

Connecting connect_tcp(int ns_fd, const char* ip, uint16_t port) {
  Addr a = addr(ip, port);
  Connecting c{nb_socket_in(ns_fd, a.family(), SOCK_STREAM)};
  int r = ::connect(c.fd.get(), a.sa(), a.len);
  REQUIRE((r == 0 || errno == EINPROGRESS));
  return c;
}

// Accepts one connection on `listener`; returns it and its peer.
UniqueFd accept_one(int listener, sockaddr_storage* peer, int timeout_ms = 5000) {
  if (!readable(listener, timeout_ms)) return UniqueFd();
  socklen_t len = sizeof(*peer);
  return UniqueFd(::accept4(listener, reinterpret_cast<sockaddr*>(peer), &len, SOCK_CLOEXEC));
}

std::string original_dst(int fd, int family) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  int r = family == AF_INET ? ::getsockopt(fd, SOL_IP, kSoOriginalDst, &ss, &len)
                            : ::getsockopt(fd, SOL_IPV6, kIp6tSoOriginalDst, &ss, &len);
  if (r != 0) return std::string("getsockopt: ") + std::strerror(errno);
  return to_string(ss);
}

// One datagram: its payload, its sender and (IPv4) the destination its header had on
// arrival; all empty when nothing came.
struct Datagram {
  std::string from, orig_dst, payload;
};

Datagram receive(int fd, int timeout_ms = 5000) {
  Datagram d;
  if (!readable(fd, timeout_ms)) return d;
  char buf[512];
  char ctl[256];
  sockaddr_storage from{};
  iovec iov{buf, sizeof(buf)};
  msghdr m{};
  m.msg_name = &from;
  m.msg_namelen = sizeof(from);
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = ctl;
  m.msg_controllen = sizeof(ctl);
  ssize_t n = ::recvmsg(fd, &m, 0);
  if (n < 0) return d;
  d.payload.assign(buf, static_cast<size_t>(n));
  d.from = to_string(from);
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
    if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_ORIGDSTADDR) {
      sockaddr_storage od{};
      std::memcpy(&od, CMSG_DATA(c), sizeof(sockaddr_in));
      d.orig_dst = to_string(od);
    }
  return d;
}

void send_to(int fd, const char* ip, uint16_t port, const std::string& payload) {
  Addr a = addr(ip, port);
  REQUIRE(::sendto(fd, payload.data(), payload.size(), 0, a.sa(), a.len) == static_cast<ssize_t>(payload.size()));
}

void reply_to(int fd, const std::string& from_text, const std::string& payload) {
  // from_text is "ip:port" or "[ip]:port"
  std::string ip = host_of(from_text);
  uint16_t port = static_cast<uint16_t>(std::stoi(from_text.substr(from_text.rfind(':') + 1)));
  send_to(fd, ip.c_str(), port, payload);
}

std::string read_some(int fd, int timeout_ms = 5000) {
  if (!readable(fd, timeout_ms)) return "";
  char buf[256];
  ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

std::string read_sysctl(const std::string& name) {
  std::string path = "/proc/sys/" + name;
  for (char& c : path)
    if (c == '.') c = '/';
  std::string out = run("cat " + path);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace

TEST_CASE("nftables is available here, and forwarding is turned on saying what changed") {
  REQUIRE(nft_available());
  // This namespace starts with forwarding off; up0 takes router advertisements, a sandbox
  // interface is set to take them too (which enable_forwarding must not touch).
  REQUIRE(sh("sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0 net.ipv6.conf.up0.accept_ra=1 "
             "net.ipv6.conf.nxsfwtesta.accept_ra=1"));
  HostFirewallConfig v4only;
  auto c = enable_forwarding(v4only);
  REQUIRE(c);
  CHECK(c->changed == std::vector<std::string>{"net.ipv4.ip_forward 0 -> 1"});
  CHECK(read_sysctl("net.ipv6.conf.all.forwarding") == "0");  // no IPv6 pool: left alone

  auto c6 = enable_forwarding(config());
  REQUIRE(c6);
  CHECK(c6->changed == std::vector<std::string>{"net.ipv6.conf.up0.accept_ra 1 -> 2", "net.ipv6.conf.all.forwarding 0 -> 1"});
  CHECK(read_sysctl("net.ipv6.conf.up0.accept_ra") == "2");
  CHECK(read_sysctl("net.ipv6.conf.nxsfwtesta.accept_ra") == "1");
  auto again = enable_forwarding(config());
  REQUIRE(again);
  CHECK(again->changed.empty());
}

TEST_CASE("masquerade: the outside sees the host's address, and the replies come back (TCP, UDP, IPv6)") {
  REQUIRE(enable_forwarding(config()));
  install();
  for (const char* ip : {"198.51.100.10", "2001:db8:5::10"}) {
    INFO(ip);
    const std::string host_ip = std::strchr(ip, ':') ? "2001:db8:5::1" : "198.51.100.1";
    auto server = listen_tcp(g_topo.outside_fd, ip, 7000);
    auto c = connect_tcp(g_topo.a_fd, ip, 7000);
    sockaddr_storage peer{};
    UniqueFd conn = accept_one(server.get(), &peer);
    REQUIRE(conn.valid());
    CHECK(host_of(to_string(peer)) == host_ip);
    REQUIRE(c.wait_connected());
    REQUIRE(::send(conn.get(), "hello", 5, 0) == 5);
    CHECK(read_some(c.fd.get()) == "hello");

    auto userver = bind_udp(g_topo.outside_fd, ip, 7001);
    Addr a = addr(ip, 0);
    UniqueFd uc = nb_socket_in(g_topo.a_fd, a.family(), SOCK_DGRAM);
    send_to(uc.get(), ip, 7001, "ping");
    Datagram d = receive(userver.get());
    CHECK(host_of(d.from) == host_ip);
    reply_to(userver.get(), d.from, "pong");
    CHECK(read_some(uc.get()) == "pong");
  }
  CHECK(fw_packets("masquerade-ipv4") >= 2);
  CHECK(fw_packets("masquerade-ipv6") >= 2);
}

TEST_CASE("tcp 80 and 443 go to the gateway's ports, which read the original destination") {
  install();
  auto http = listen_tcp(g_topo.host_fd, "0.0.0.0", 15080), tls = listen_tcp(g_topo.host_fd, "0.0.0.0", 15443);
  auto http6 = listen_tcp(g_topo.host_fd, "::", 15080);
  struct Case {
    const char* ip;
    uint16_t port;
    int listener;
    const char* want;
  };
  for (const Case& k : {Case{"198.51.100.10", 80, http.get(), "198.51.100.10:80"},
                        Case{"198.51.100.10", 443, tls.get(), "198.51.100.10:443"},
                        Case{"203.0.113.77", 80, http.get(), "203.0.113.77:80"},  // no route there: still redirected
                        Case{"2001:db8:5::10", 80, http6.get(), "[2001:db8:5::10]:80"}}) {
    INFO(k.want);
    auto c = connect_tcp(g_topo.a_fd, k.ip, k.port);
    sockaddr_storage peer{};
    UniqueFd conn = accept_one(k.listener, &peer);
    REQUIRE(conn.valid());
    CHECK(host_of(to_string(peer)) == (std::strchr(k.ip, ':') ? "fd4e:7800::2" : "10.88.0.2"));
    CHECK(original_dst(conn.get(), peer.ss_family) == k.want);
    REQUIRE(c.wait_connected());
    REQUIRE(::send(conn.get(), "gw", 2, 0) == 2);
    CHECK(read_some(c.fd.get()) == "gw");  // the answer comes back as from the original address
  }
  CHECK(fw_packets("redirect-http") >= 2);
  CHECK(fw_packets("redirect-tls") >= 1);
  CHECK(fw_packets("redirect-http-ipv6") >= 1);
}

TEST_CASE("DNS to the gateway goes to the forwarder's port (UDP and TCP); DNS elsewhere does not") {
  install();
  auto dns = bind_udp(g_topo.host_fd, "0.0.0.0", 15053);
  auto dns_tcp = listen_tcp(g_topo.host_fd, "0.0.0.0", 15053);
  UniqueFd c = nb_socket_in(g_topo.a_fd, AF_INET, SOCK_DGRAM);
  Addr gw = addr("10.88.0.1", 53);
  REQUIRE(::connect(c.get(), gw.sa(), gw.len) == 0);  // a connected socket takes answers from 10.88.0.1:53 only
  REQUIRE(::send(c.get(), "query", 5, 0) == 5);
  Datagram d = receive(dns.get());
  CHECK(d.payload == "query");
  CHECK(host_of(d.from) == "10.88.0.2");
  // The header after the redirect: the gateway's address, the forwarder's port (UDP has no
  // SO_ORIGINAL_DST; a forwarder answers whatever reached it).
  CHECK(d.orig_dst == "10.88.0.1:15053");
  reply_to(dns.get(), d.from, "answer");
  CHECK(read_some(c.get()) == "answer");

  auto t = connect_tcp(g_topo.a_fd, "10.88.0.1", 53);
  sockaddr_storage peer{};
  UniqueFd conn = accept_one(dns_tcp.get(), &peer);
  REQUIRE(conn.valid());
  CHECK(original_dst(conn.get(), AF_INET) == "10.88.0.1:53");
  CHECK(t.wait_connected());

  // To a resolver outside: forwarded (and masqueraded), not redirected.
  auto outside_dns = bind_udp(g_topo.outside_fd, "198.51.100.10", 53);
  UniqueFd c2 = nb_socket_in(g_topo.a_fd, AF_INET, SOCK_DGRAM);
  send_to(c2.get(), "198.51.100.10", 53, "q2");
  Datagram o = receive(outside_dns.get());
  CHECK(o.payload == "q2");
  CHECK(host_of(o.from) == "198.51.100.1");
  CHECK_FALSE(readable(dns.get(), 0));
  CHECK(fw_packets("redirect-dns") >= 2);
}

TEST_CASE("sandboxes reach no other host service; the services are closed to the outside") {
  install();
  auto other = listen_tcp(g_topo.host_fd, "0.0.0.0", 7777);
  auto http = listen_tcp(g_topo.host_fd, "0.0.0.0", 15080);
  auto dns = bind_udp(g_topo.host_fd, "0.0.0.0", 15053);

  uint64_t before = fw_packets("sandbox-input-drop");
  auto c = connect_tcp(g_topo.a_fd, "10.88.0.1", 7777);
  CHECK(counted("sandbox-input-drop", before));
  CHECK_FALSE(readable(other.get(), 200));
  // The gateway's own port, not through a redirect, is closed too.
  before = fw_packets("sandbox-input-drop");
  auto direct = connect_tcp(g_topo.a_fd, "10.88.0.1", 15080);
  CHECK(counted("sandbox-input-drop", before));
  CHECK_FALSE(readable(http.get(), 200));
  // And another host address (the host's outside one) is no way around it.
  before = fw_packets("sandbox-input-drop");
  auto around = connect_tcp(g_topo.a_fd, "198.51.100.1", 7777);
  CHECK(counted("sandbox-input-drop", before));
  CHECK_FALSE(readable(other.get(), 200));

  // From the outside: the services are dropped, other host services are not this table's business.
  before = fw_packets("services-from-outside");
  auto o = connect_tcp(g_topo.outside_fd, "198.51.100.1", 15080);
  CHECK(counted("services-from-outside", before));
  CHECK_FALSE(readable(http.get(), 200));
  before = fw_packets("services-from-outside");
  UniqueFd ou = nb_socket_in(g_topo.outside_fd, AF_INET, SOCK_DGRAM);
  send_to(ou.get(), "198.51.100.1", 15053, "q");
  CHECK(counted("services-from-outside", before));
  CHECK_FALSE(readable(dns.get(), 200));
  auto o2 = connect_tcp(g_topo.outside_fd, "198.51.100.1", 7777);
  sockaddr_storage peer{};
  CHECK(accept_one(other.get(), &peer).valid());
  // The host itself (lo) still reaches the services.
  auto local = connect_tcp(g_topo.host_fd, "127.0.0.1", 15080);
  CHECK(accept_one(http.get(), &peer).valid());
}

TEST_CASE("sandboxes cannot reach each other, and nothing new is forwarded to a sandbox") {
  install();
  auto b_server = listen_tcp(g_topo.b_fd, "10.88.0.6", 80);
  auto b_udp = bind_udp(g_topo.b_fd, "10.88.0.6", 5000);
  uint64_t before = fw_packets("sandbox-to-sandbox");
  // Port 80 of another sandbox is not redirected to the gateway either: it is a forward.
  auto c = connect_tcp(g_topo.a_fd, "10.88.0.6", 80);
  CHECK(counted("sandbox-to-sandbox", before));
  CHECK_FALSE(readable(b_server.get(), 200));
  before = fw_packets("sandbox-to-sandbox");
  UniqueFd u = nb_socket_in(g_topo.a_fd, AF_INET, SOCK_DGRAM);
  send_to(u.get(), "10.88.0.6", 5000, "x");
  CHECK(counted("sandbox-to-sandbox", before));
  CHECK_FALSE(readable(b_udp.get(), 200));

  // The outside, given a route to the pool, still cannot open a connection to a sandbox.
  REQUIRE(sh("ip -n " + g_topo.outside + " route add 10.88.0.0/16 via 198.51.100.1"));
  auto a_server = listen_tcp(g_topo.a_fd, "10.88.0.2", 7000);
  before = fw_packets("to-sandbox-new");
  auto o = connect_tcp(g_topo.outside_fd, "10.88.0.2", 7000);
  CHECK(counted("to-sandbox-new", before));
  CHECK_FALSE(readable(a_server.get(), 200));
  REQUIRE(sh("ip -n " + g_topo.outside + " route del 10.88.0.0/16 via 198.51.100.1"));
}

TEST_CASE("replacing the table while connections open loses none, and keeps the sandbox policy table") {
  REQUIRE(enable_forwarding(config()));
  install();
  // A sandbox policy in its own table must survive the host table's replacements.
  auto policy = NftPolicy::attach("nxsfwtesta", RuleSet{});
  REQUIRE(policy);
  const std::string policy_before = run("nft -s list table inet nexus_policy");  // -s: without counts

  auto http = listen_tcp(g_topo.host_fd, "0.0.0.0", 15080);
  auto echo = bind_udp(g_topo.outside_fd, "198.51.100.10", 7001);
  std::atomic<bool> stop{false}, stop_server{false};
  std::atomic<int> tcp_ok{0}, tcp_bad{0}, udp_ok{0}, udp_bad{0};

  // The host side: accepts redirected connections, answers datagrams (only a masqueraded
  // source can be answered: the outside has no route to the pool).
  std::thread server([&] {
    while (!stop_server.load()) {
      pollfd p[2] = {{http.get(), POLLIN, 0}, {echo.get(), POLLIN, 0}};
      if (::poll(p, 2, 20) <= 0) continue;
      if (p[0].revents & POLLIN) {
        UniqueFd conn(::accept4(http.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (conn.valid()) (void)::send(conn.get(), "ok", 2, MSG_NOSIGNAL);
      }
      if (p[1].revents & POLLIN) {
        // No Catch assertions off the main thread: plain calls only.
        char buf[64];
        sockaddr_in from{};
        socklen_t flen = sizeof(from);
        ssize_t n = ::recvfrom(echo.get(), buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &flen);
        char ip[INET_ADDRSTRLEN] = {};
        ::inet_ntop(AF_INET, &from.sin_addr, ip, sizeof(ip));
        if (n > 0 && std::string(ip) == "198.51.100.1")
          (void)::sendto(echo.get(), buf, static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), flen);
      }
    }
  });
  // The sandbox side: a new connection and a new UDP flow (a new source port) each round,
  // so every round needs the redirect and the masquerade rules as they are at that moment.
  std::thread client([&] {
    if (::setns(g_topo.a_fd, CLONE_NEWNET) != 0) return;
    Addr dst = addr("198.51.100.10", 80), udst = addr("198.51.100.10", 7001);
    while (!stop.load()) {
      UniqueFd t(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      timeval tv{2, 0};
      ::setsockopt(t.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      ::setsockopt(t.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
      char buf[8];
      if (::connect(t.get(), dst.sa(), dst.len) == 0 && ::recv(t.get(), buf, sizeof(buf), 0) == 2) {
        ++tcp_ok;
      } else {
        ++tcp_bad;
      }
      UniqueFd u(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
      ::setsockopt(u.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      if (::sendto(u.get(), "u", 1, 0, udst.sa(), udst.len) == 1 && ::recv(u.get(), buf, sizeof(buf), 0) == 1) {
        ++udp_ok;
      } else {
        ++udp_bad;
      }
    }
  });
  int replaced = 0;
  for (int i = 0; i < 30; ++i) {
    auto fw = HostFirewall::create(config());
    REQUIRE(fw);
    auto r = fw->install({"nxsfwtesta", "nxsfwtestb"});
    if (!r) FAIL_CHECK("install: " << r.error().message());
    ++replaced;
    std::this_thread::sleep_for(10ms);
  }
  stop = true;
  client.join();  // the server answers until the client's last round is done
  stop_server = true;
  server.join();
  CHECK(replaced == 30);
  INFO("tcp ok " << tcp_ok.load() << " bad " << tcp_bad.load() << ", udp ok " << udp_ok.load() << " bad " << udp_bad.load());
  CHECK(tcp_ok.load() >= 20);
  CHECK(tcp_bad.load() == 0);
  CHECK(udp_ok.load() >= 20);
  CHECK(udp_bad.load() == 0);
  CHECK(run("nft -s list table inet nexus_policy") == policy_before);
  REQUIRE((*policy)->detach());
}

TEST_CASE("with the sandbox's policy: rules judge the destination the sandbox chose, before the redirect") {
  REQUIRE(enable_forwarding(config()));
  install();
  auto http = listen_tcp(g_topo.host_fd, "0.0.0.0", 15080);
  auto dns = bind_udp(g_topo.host_fd, "0.0.0.0", 15053);
  // What nexusd puts above the user's rules: DNS to the sandbox's own gateway address, tcp 80
  // and 443 anywhere (the gateway applies the rest). Here the user's deny of one web server
  // sits above them, so it is judged on the original destination.
  RuleSet set;
  for (const char* text : {"--id no-web --direction egress --cidr 198.51.100.10/32 --proto tcp --ports 80 --action deny --priority 5",
                           "--id dns --direction egress --cidr 10.88.0.1/32 --proto udp --ports 53 --action allow --priority 10",
                           "--id web --direction egress --cidr 0.0.0.0/0 --proto tcp --ports 80 --action allow --priority 10"}) {
    auto r = parse_rule_text(text);
    REQUIRE(r);
    set.rules.push_back(*r);
  }
  auto policy = NftPolicy::attach("nxsfwtesta", set);
  REQUIRE(policy);
  auto count = [&](const std::string& id) {
    auto cs = (*policy)->rule_counters();
    REQUIRE(cs);
    for (const auto& c : *cs)
      if (c.id == id) return c.counter.packets;
    FAIL("no rule " << id);
    return uint64_t{0};
  };

  // Denied by the user's rule: never redirected, the gateway sees nothing.
  auto denied = connect_tcp(g_topo.a_fd, "198.51.100.10", 80);
  for (int i = 0; i < 500 && count("no-web") == 0; ++i) std::this_thread::sleep_for(10ms);
  CHECK(count("no-web") >= 1);
  CHECK_FALSE(readable(http.get(), 200));
  // Another web server: allowed, redirected, and its replies pass the ingress default deny.
  auto allowed = connect_tcp(g_topo.a_fd, "203.0.113.77", 80);
  sockaddr_storage peer{};
  UniqueFd conn = accept_one(http.get(), &peer);
  REQUIRE(conn.valid());
  CHECK(original_dst(conn.get(), AF_INET) == "203.0.113.77:80");
  CHECK(allowed.wait_connected());
  CHECK(count("web") >= 2);
  // DNS to the gateway: allowed by its rule although 10/8 is in the private default deny.
  UniqueFd c = nb_socket_in(g_topo.a_fd, AF_INET, SOCK_DGRAM);
  send_to(c.get(), "10.88.0.1", 53, "q");
  Datagram d = receive(dns.get());
  CHECK(d.payload == "q");
  reply_to(dns.get(), d.from, "a");
  CHECK(read_some(c.get()) == "a");
  CHECK(count("dns") == 1);
  auto stats = (*policy)->stats();
  REQUIRE(stats);
  CHECK(stats->ingress_reply.packets >= 2);  // the SYN-ACK and the DNS answer
  CHECK(stats->ingress_default.packets == 0);
  // DNS over TCP has no allow here: the private default stops it before the redirect.
  auto dns_tcp = listen_tcp(g_topo.host_fd, "0.0.0.0", 15053);
  auto t = connect_tcp(g_topo.a_fd, "10.88.0.1", 53);
  for (int i = 0; i < 500 && count("default:private-10") == 0; ++i) std::this_thread::sleep_for(10ms);
  CHECK(count("default:private-10") >= 1);
  CHECK_FALSE(readable(dns_tcp.get(), 200));
  REQUIRE((*policy)->detach());
}

TEST_CASE("status shows the table's rules with handles and counters; remove leaves nothing") {
  install();
  auto st = firewall().status();
  REQUIRE(st);
  CHECK(st->present);
  bool found = false;
  for (const auto& r : st->rules) {
    CHECK(r.handle > 0);
    if (r.comment == "masquerade-ipv4") {
      found = true;
      CHECK(r.chain == "postrouting_nat");
    }
  }
  CHECK(found);
  REQUIRE(firewall().remove());
  CHECK(run("nft list ruleset").find("table inet nexus") == std::string::npos);
  auto gone = firewall().status();
  REQUIRE(gone);
  CHECK_FALSE(gone->present);
  CHECK(gone->rules.empty());
  CHECK(firewall().remove());  // nothing there: still ok
  // Really gone: port 80 is no longer redirected (nothing listens on the outside's port 80).
  auto http = listen_tcp(g_topo.host_fd, "0.0.0.0", 15080);
  auto c = connect_tcp(g_topo.a_fd, "198.51.100.10", 80);
  CHECK_FALSE(c.wait_connected());
  CHECK_FALSE(readable(http.get(), 0));
}

TEST_CASE("without CAP_NET_ADMIN the probe and the install say permission_denied") {
  pid_t pid = ::fork();
  if (pid == 0) {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    ::syscall(SYS_capget, &hdr, data);
    data[CAP_NET_ADMIN / 32].effective &= ~(1u << (CAP_NET_ADMIN % 32));
    if (::syscall(SYS_capset, &hdr, data) != 0) ::_exit(3);
    auto probe = nft_available();
    if (probe || !probe.error().is(Errc::permission_denied)) ::_exit(1);
    auto fw = HostFirewall::create(HostFirewallConfig{});
    auto r = fw->install();
    if (r || !r.error().is(Errc::permission_denied)) ::_exit(2);
    std::fprintf(stderr, "(expected) %s\n", r.error().message().c_str());
    ::_exit(0);
  }
  int st = 0;
  REQUIRE(::waitpid(pid, &st, 0) == pid);
  REQUIRE(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
}

int main(int argc, char** argv) {
  if (::geteuid() != 0) return skip("needs root (network namespaces, CAP_NET_ADMIN)");
  if (std::system("command -v ip >/dev/null && command -v nft >/dev/null && command -v sysctl >/dev/null") != 0) {
    return skip("needs ip (iproute2), nft (nftables) and sysctl (procps)");
  }
  if (std::string why = g_topo.setup(); !why.empty()) {
    g_topo.teardown();
    return skip(why);
  }
  if (auto ok = nft_available(); !ok) {
    g_topo.teardown();
    return skip("nftables unavailable here: " + ok.error().message());
  }
  int rc = Catch::Session().run(argc, argv);
  g_topo.teardown();
  return rc;
}
