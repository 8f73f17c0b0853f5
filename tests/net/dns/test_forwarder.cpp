// SPDX-License-Identifier: Apache-2.0
// The DNS forwarder for real. The test unshares into a network namespace of its own (the
// "host"), where the forwarder runs behind an nftables redirect written here, as nexusd's
// host firewall writes it; a "sandbox" namespace joined by a veth queries it with dig and
// with sockets; an "upstream" namespace runs Debian's dnsmasq as the resolver, beside a
// silent address (a dead upstream) and a hand-driven fake one (for spoofed answers).
//
//   sandbox netns   eth0 10.88.0.2/30 fd4e:7800::2/126, default route via .1
//        | veth
//   host (the test) nxs0dnstest000 10.88.0.1/30 fd4e:7800::1/126     forwarder *:15053
//                   nxu0dnstest000 192.0.2.1/24
//        | veth
//   upstream netns  eth0 192.0.2.2 (dnsmasq :53), 192.0.2.3 (nothing), 192.0.2.4 (the fake);
//                   192.0.2.9 is nobody's (silence, not even a refusal)
//
// Needs root, ip, nft, dnsmasq and dig; exits 77 with the reason otherwise. A reaper process
// deletes the two named namespaces however the test ends; the host namespace, its veths and
// its nftables table vanish with the test process, dnsmasq with its parent (PDEATHSIG).
#define CATCH_CONFIG_RUNNER
#include <catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include "common/unique_fd.hpp"
#include "dns_test_util.hpp"
#include "net/dns/forwarder.hpp"
#include "tests/net/netns_support.hpp"

using namespace nexus;
using namespace nexus::net::testing;
using namespace nexus::net::dns;
using namespace std::chrono_literals;
using dnstest::Builder;
using dnstest::records;
using Strings = std::vector<std::string>;

namespace {

constexpr const char* kGateway4 = "10.88.0.1";
constexpr const char* kSandbox4 = "10.88.0.2";
constexpr const char* kGateway6 = "fd4e:7800::1";
constexpr const char* kSandbox6 = "fd4e:7800::2";
constexpr const char* kLive = "192.0.2.2";
constexpr const char* kDead = "192.0.2.3";
constexpr const char* kFake = "192.0.2.4";
constexpr const char* kSilent = "192.0.2.9";  // nobody has it: no answer, no refusal

struct Env {
  std::string sandbox_ns, upstream_ns;
  int host_fd = -1, sandbox_fd = -1, upstream_fd = -1;
  pid_t dnsmasq = -1;

  std::string setup() {
    if (::unshare(CLONE_NEWNET) != 0) return "cannot unshare a network namespace";
    host_fd = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    const std::string id = std::to_string(::getpid());
    sandbox_ns = "nxdns-s-" + id;
    upstream_ns = "nxdns-u-" + id;
    if (start_reaper(netns_del_command({sandbox_ns, upstream_ns})) < 0) return "cannot start the reaper";
    if (!add_netns({sandbox_ns, upstream_ns})) return "cannot create network namespaces (ip netns add)";
    const std::string S = "ip -n " + sandbox_ns + " ", U = "ip -n " + upstream_ns + " ";
    bool ok = sh("ip link set lo up") &&
              sh("ip link add name nxs0dnstest000 type veth peer name eth0 netns " + sandbox_ns) &&
              sh("ip link add name nxu0dnstest000 type veth peer name eth0 netns " + upstream_ns) &&
              sh("ip addr add 10.88.0.1/30 dev nxs0dnstest000") &&
              sh("ip addr add fd4e:7800::1/126 dev nxs0dnstest000 nodad") &&
              sh("ip addr add 192.0.2.1/24 dev nxu0dnstest000") &&
              sh("ip link set nxs0dnstest000 up") && sh("ip link set nxu0dnstest000 up") &&
              sh(S + "link set lo up") && sh(S + "addr add 10.88.0.2/30 dev eth0") &&
              sh(S + "addr add fd4e:7800::2/126 dev eth0 nodad") && sh(S + "link set eth0 up") &&
              sh(S + "route add default via 10.88.0.1") && sh(S + "-6 route add default via fd4e:7800::1") &&
              sh(U + "link set lo up") && sh(U + "addr add 192.0.2.2/24 dev eth0") &&
              sh(U + "addr add 192.0.2.3/24 dev eth0") && sh(U + "addr add 192.0.2.4/24 dev eth0") &&
              sh(U + "link set eth0 up");
    if (!ok) return "cannot create the veth pairs";
    // The redirect nexusd's host firewall writes: the sandbox's port 53 traffic to one of
    // the host's own addresses goes to the forwarder's port.
    const char* rules =
        "table inet nxdnstest {\n"
        "  chain pre {\n"
        "    type nat hook prerouting priority dstnat; policy accept;\n"
        "    iifname \"nxs*\" fib daddr type local udp dport 53 redirect to :15053\n"
        "    iifname \"nxs*\" fib daddr type local tcp dport 53 redirect to :15053\n"
        "  }\n"
        "}\n";
    FILE* nft = ::popen("nft -f - 2>&1", "w");
    if (!nft) return "cannot run nft";
    std::fputs(rules, nft);
    if (::pclose(nft) != 0) return "nft cannot load a nat redirect here (nf_tables nat, fib)";
    sandbox_fd = open_netns(sandbox_ns);
    upstream_fd = open_netns(upstream_ns);
    if (sandbox_fd < 0 || upstream_fd < 0) return "cannot open the namespaces";
    return start_dnsmasq();
  }

  std::string start_dnsmasq() {
    dnsmasq = ::fork();
    if (dnsmasq == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::setns(upstream_fd, CLONE_NEWNET);
      int devnull = ::open("/dev/null", O_WRONLY);
      ::dup2(devnull, 1);
      ::execlp("dnsmasq", "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
               "--address=/a.test/198.51.100.7", "--address=/rebind.test/10.1.2.3",
               "--address=/both.test/198.51.100.8", "--address=/both.test/192.168.7.7",
               "--port", "53", "--listen-address", kLive, "--bind-interfaces", "--pid-file=",
               static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // Ready when it answers.
    for (int i = 0; i < 100; ++i) {
      if (auto a = ask_from(host_fd, kLive, 53, dnstest::query("a.test"), 100)) return "";
    }
    return "dnsmasq did not start answering";
  }

  void teardown() {
    if (dnsmasq > 0) {
      ::kill(dnsmasq, SIGTERM);
      ::waitpid(dnsmasq, nullptr, 0);
    }
    del_netns({sandbox_ns, upstream_ns});
  }

  std::optional<std::vector<uint8_t>> ask_from(int ns_fd, const char* ip, uint16_t port,
                                               const std::vector<uint8_t>& q, int timeout_ms) const;
};

Env g_env;

SocketAddress to(const char* ip, uint16_t port) { return *SocketAddress::parse(std::strchr(ip, ':') ? std::string("[") + ip + "]" : std::string(ip), port); }

std::optional<std::vector<uint8_t>> recv_within(int fd, int timeout_ms, SocketAddress* from = nullptr) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) != 1) return std::nullopt;
  std::vector<uint8_t> buf(65536);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ssize_t r = ::recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&ss), &len);
  if (r < 0) return std::nullopt;
  if (from) *from = SocketAddress::from(reinterpret_cast<sockaddr*>(&ss), len);
  buf.resize(static_cast<size_t>(r));
  return buf;
}

std::optional<std::vector<uint8_t>> Env::ask_from(int ns_fd, const char* ip, uint16_t port,
                                                  const std::vector<uint8_t>& q, int timeout_ms) const {
  SocketAddress a = to(ip, port);
  UniqueFd fd(socket_in(ns_fd, a.family(), SOCK_DGRAM));
  if (::sendto(fd.get(), q.data(), q.size(), 0, a.get(), a.length) < 0) return std::nullopt;
  return recv_within(fd.get(), timeout_ms);
}

// A query from the sandbox to its gateway's port 53, over UDP.
std::optional<std::vector<uint8_t>> ask(const std::vector<uint8_t>& q, const char* gateway = kGateway4,
                                        int timeout_ms = 3000) {
  return g_env.ask_from(g_env.sandbox_fd, gateway, 53, q, timeout_ms);
}

std::string dig(const std::string& args) {
  return run("ip netns exec " + g_env.sandbox_ns + " dig +time=3 +tries=1 " + args);
}

ForwarderOptions options(std::vector<std::string> upstreams) {
  ForwarderOptions o;
  o.upstreams = std::move(upstreams);
  o.upstream_timeout_ms = 300;
  return o;
}

std::unique_ptr<Forwarder> start(ForwarderOptions o) {
  auto f = Forwarder::start(std::move(o));
  REQUIRE(f);
  REQUIRE((*f)->add_client(kSandbox4, "sb_one"));
  return std::move(*f);
}

uint8_t rcode_of(const std::vector<uint8_t>& m) { return static_cast<uint8_t>(m[3] & 0xF); }

// A TCP connection from the sandbox to the gateway's port 53.
UniqueFd tcp_connect(const char* ip = kGateway4) {
  SocketAddress a = to(ip, 53);
  UniqueFd fd(socket_in(g_env.sandbox_fd, a.family(), SOCK_STREAM));
  REQUIRE(::connect(fd.get(), a.get(), a.length) == 0);
  return fd;
}

void send_framed(int fd, const std::vector<uint8_t>& m) {
  std::vector<uint8_t> f{static_cast<uint8_t>(m.size() >> 8), static_cast<uint8_t>(m.size())};
  f.insert(f.end(), m.begin(), m.end());
  REQUIRE(::send(fd, f.data(), f.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(f.size()));
}

// Reads one framed message; nullopt on EOF, reset or timeout.
std::optional<std::vector<uint8_t>> read_framed(int fd, int timeout_ms = 3000) {
  std::vector<uint8_t> buf;
  size_t want = 2;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (buf.size() < want) {
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, left) != 1) return std::nullopt;
    uint8_t tmp[4096];
    ssize_t r = ::recv(fd, tmp, std::min(sizeof tmp, want - buf.size()), 0);
    if (r <= 0) return std::nullopt;
    buf.insert(buf.end(), tmp, tmp + r);
    if (buf.size() == 2 && want == 2) want = 2 + (buf[0] << 8 | buf[1]);
  }
  return std::vector<uint8_t>(buf.begin() + 2, buf.end());
}

// Waits until `cond` holds on the forwarder's statistics (the counters are updated on its
// thread); the deadline only ends a broken test.
bool eventually(Forwarder& f, const std::function<bool(const ForwarderStats&)>& cond) {
  for (int i = 0; i < 200; ++i) {
    if (cond(f.stats())) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

}  // namespace

TEST_CASE("a sandbox's A query is answered through the redirect", "[forwarder]") {
  auto f = start(options({kLive}));
  // Real dig, UDP.
  CHECK(dig("+short @10.88.0.1 a.test") == "198.51.100.7\n");
  // A socket: the answer comes from the gateway's port 53 with the sandbox's own ID.
  UniqueFd fd(socket_in(g_env.sandbox_fd, AF_INET, SOCK_DGRAM));
  auto q = Builder().header(0x4242, 0x0100, 1, 0, 0, 1).question("A.Test").opt(1232).done();
  SocketAddress gw = to(kGateway4, 53);
  REQUIRE(::sendto(fd.get(), q.data(), q.size(), 0, gw.get(), gw.length) == static_cast<ssize_t>(q.size()));
  SocketAddress from;
  auto a = recv_within(fd.get(), 3000, &from);
  REQUIRE(a);
  CHECK(from == gw);
  CHECK(get16(*a, 0) == 0x4242);
  CHECK(rcode_of(*a) == rcode::noerror);
  CHECK(records(*a) == Strings{"a.test. A 198.51.100.7", ". OPT"});
  auto s = f->stats();
  CHECK(s.sandboxes["sb_one"].queries == 2);
  CHECK(s.sandboxes["sb_one"].answers == 2);
  CHECK(s.total.answers == 2);
}

TEST_CASE("IPv6: the sandbox asks its gateway's IPv6 address", "[forwarder]") {
  auto f = start(options({kLive}));
  REQUIRE(f->add_client(kSandbox6, "sb_one"));
  auto a = ask(dnstest::query("a.test"), kGateway6);
  REQUIRE(a);
  CHECK(records(*a) == Strings{"a.test. A 198.51.100.7"});
  CHECK(dig("+short @fd4e:7800::1 a.test") == "198.51.100.7\n");
}

TEST_CASE("a rebinding answer loses its private records", "[forwarder]") {
  auto f = start(options({kLive}));
  auto a = ask(dnstest::query("rebind.test"));
  REQUIRE(a);
  CHECK(rcode_of(*a) == rcode::noerror);
  CHECK(get16(*a, 6) == 0);  // no answer left
  CHECK(dig("+short @10.88.0.1 rebind.test").empty());
  // A name with a public and a private address keeps the public one.
  auto both = ask(dnstest::query("both.test"));
  REQUIRE(both);
  CHECK(records(*both) == Strings{"both.test. A 198.51.100.8"});
  CHECK(f->stats().sandboxes["sb_one"].private_removed == 3);

  // Within a local domain the private answer stays; without protection too.
  auto o = options({kLive});
  o.local_domains = {"rebind.test"};
  f.reset();
  f = start(o);
  auto local = ask(dnstest::query("rebind.test"));
  REQUIRE(local);
  CHECK(records(*local) == Strings{"rebind.test. A 10.1.2.3"});
  o = options({kLive});
  o.stop_rebind = false;
  f.reset();
  f = start(o);
  CHECK(dig("+short @10.88.0.1 rebind.test") == "10.1.2.3\n");
}

TEST_CASE("TCP: dig +tcp and pipelined queries on one connection", "[forwarder]") {
  auto f = start(options({kLive}));
  CHECK(dig("+tcp +short @10.88.0.1 a.test") == "198.51.100.7\n");
  UniqueFd c = tcp_connect();
  send_framed(c.get(), dnstest::query("a.test", 1, 0x1111));
  send_framed(c.get(), dnstest::query("rebind.test", 1, 0x2222));
  std::set<uint16_t> ids;
  for (int i = 0; i < 2; ++i) {
    auto a = read_framed(c.get());
    REQUIRE(a);
    ids.insert(get16(*a, 0));
    if (get16(*a, 0) == 0x1111) CHECK(records(*a) == Strings{"a.test. A 198.51.100.7"});
    if (get16(*a, 0) == 0x2222) CHECK(records(*a).empty());
  }
  CHECK(ids == std::set<uint16_t>{0x1111, 0x2222});
  // A message shorter than a header closes the connection.
  UniqueFd bad = tcp_connect();
  REQUIRE(::send(bad.get(), "\0\5hello", 7, MSG_NOSIGNAL) == 7);
  CHECK_FALSE(read_framed(bad.get()));
  CHECK(eventually(*f, [](const ForwarderStats& st) { return st.sandboxes.at("sb_one").dropped_malformed == 1; }));
  // A connection that sends half a message is closed at the read deadline.
  auto o = options({kLive});
  o.tcp_idle_ms = 300;
  f.reset();
  f = start(o);
  UniqueFd slow = tcp_connect();
  REQUIRE(::send(slow.get(), "\0\40abc", 5, MSG_NOSIGNAL) == 5);
  auto t0 = std::chrono::steady_clock::now();
  CHECK_FALSE(read_framed(slow.get(), 5000));
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);
}

TEST_CASE("an unregistered client gets nothing", "[forwarder]") {
  auto f = start(options({kLive}));
  REQUIRE(f->remove_client(kSandbox4));
  CHECK_FALSE(ask(dnstest::query("a.test"), kGateway4, 700));
  UniqueFd c = tcp_connect();
  send_framed(c.get(), dnstest::query("a.test"));
  CHECK_FALSE(read_framed(c.get(), 1000));
  auto s = f->stats();
  CHECK(s.total.dropped_not_registered == 2);
  CHECK(s.total.queries == 0);
  CHECK(s.sandboxes.empty());
  // Registered again, served again.
  REQUIRE(f->add_client(kSandbox4, "sb_one"));
  CHECK(ask(dnstest::query("a.test")));
}

TEST_CASE("a registered address arriving through another interface is a spoof", "[forwarder]") {
  auto f = Forwarder::start(options({kLive}));
  REQUIRE(f);
  auto fwd = std::move(*f);
  REQUIRE(fwd->add_client(kSandbox4, "sb_one", "nxs0dnstest000"));
  auto missing = fwd->add_client("10.88.0.6", "sb_x", "nxsnosuchif000");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().is(Errc::not_found));
  // The upstream namespace claims the sandbox's address and sends to the forwarder's port
  // through its own veth (strict reverse-path filtering would stop it earlier; this host
  // namespace turns it off to reach the forwarder's own check).
  REQUIRE(sh("sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.nxu0dnstest000.rp_filter=0"));
  const std::string U = "ip -n " + g_env.upstream_ns + " ";
  REQUIRE(sh(U + "addr add 10.88.0.2/32 dev eth0"));
  REQUIRE(sh(U + "route add 10.88.0.1/32 via 192.0.2.1 src 10.88.0.2"));
  UniqueFd liar(socket_in(g_env.upstream_fd, AF_INET, SOCK_DGRAM));
  SocketAddress self = to(kSandbox4, 0), port = to(kGateway4, 15053);
  REQUIRE(::bind(liar.get(), self.get(), self.length) == 0);
  auto q = dnstest::query("a.test");
  REQUIRE(::sendto(liar.get(), q.data(), q.size(), 0, port.get(), port.length) > 0);
  CHECK(eventually(*fwd, [](const ForwarderStats& st) { return st.total.dropped_spoofed == 1; }));
  CHECK(fwd->stats().total.queries == 0);
  run(U + "route del 10.88.0.1/32");
  run(U + "addr del 10.88.0.2/32 dev eth0");
  // The sandbox itself, through its own veth, is served.
  auto a = ask(dnstest::query("a.test"));
  REQUIRE(a);
  CHECK(records(*a) == Strings{"a.test. A 198.51.100.7"});
}

TEST_CASE("a sandbox without DNS gets REFUSED", "[forwarder]") {
  auto f = start(options({kLive}));
  f->set_dns_refused("sb_one", true);
  auto a = ask(dnstest::query("a.test"));
  REQUIRE(a);
  CHECK(rcode_of(*a) == rcode::refused);
  CHECK(get16(*a, 6) == 0);
  f->set_dns_refused("sb_one", false);
  a = ask(dnstest::query("a.test"));
  REQUIRE(a);
  CHECK(rcode_of(*a) == rcode::noerror);
  CHECK(f->stats().sandboxes["sb_one"].refused == 1);
}

TEST_CASE("garbage is dropped and counted, and does not stop the service", "[forwarder]") {
  auto f = start(options({kLive}));
  UniqueFd fd(socket_in(g_env.sandbox_fd, AF_INET, SOCK_DGRAM));
  SocketAddress gw = to(kGateway4, 53);
  std::vector<std::vector<uint8_t>> junk = {
      {},                                                                    // empty
      {1, 2, 3},                                                             // short
      Builder().header(1, 0x8180, 1, 0, 0, 0).question("a.test").done(),     // an answer
      Builder().header(1, 0x0100, 1, 0, 0, 0).pointer(12).u16(1).u16(1).done(),  // pointer loop
      Builder().header(1, 0x0100, 65535, 65535, 65535, 65535).question("a.test").done(),
      Builder().header(1, 0x0100, 1, 0, 0, 0).u8(200).u8('x').done(),       // bad label
      std::vector<uint8_t>(1400, 0xff),                                       // big noise
  };
  uint32_t x = 7;
  for (int i = 0; i < 200; ++i) {
    std::vector<uint8_t> m(12 + (x = x * 1103515245u + 12345u) % 500);
    for (auto& b : m) b = static_cast<uint8_t>((x = x * 1103515245u + 12345u) >> 16);
    m[2] &= 0x07;  // QR=0, opcode QUERY, so the header alone does not reject it
    junk.push_back(m);
  }
  for (const auto& m : junk) (void)::sendto(fd.get(), m.data(), m.size(), 0, gw.get(), gw.length);
  CHECK_FALSE(recv_within(fd.get(), 500));
  CHECK(eventually(*f, [&](const ForwarderStats& st) {
    return st.sandboxes.at("sb_one").dropped_malformed + st.sandboxes.at("sb_one").queries >= junk.size() - 1;
  }));
  // The empty datagram may not reach a UDP socket at all; every other one is counted.
  auto s = f->stats();
  CHECK(s.sandboxes["sb_one"].dropped_malformed >= junk.size() - 1);
  auto a = ask(dnstest::query("a.test"));
  REQUIRE(a);
  CHECK(records(*a) == Strings{"a.test. A 198.51.100.7"});
}

TEST_CASE("a dead upstream falls over to the next one", "[forwarder]") {
  auto f = start(options({kDead, kLive}));
  auto t0 = std::chrono::steady_clock::now();
  auto a = ask(dnstest::query("a.test"));
  REQUIRE(a);
  CHECK(records(*a) == Strings{"a.test. A 198.51.100.7"});
  CHECK(std::chrono::steady_clock::now() - t0 >= 250ms);  // it waited for the dead one
  CHECK(f->stats().sandboxes["sb_one"].upstream_timeouts == 1);
  // Later queries start at the one that answers.
  a = ask(dnstest::query("a.test"));
  REQUIRE(a);
  CHECK(f->stats().sandboxes["sb_one"].upstream_timeouts == 1);
  // TCP falls over too (the dead address refuses or ignores the connection).
  CHECK(dig("+tcp +short @10.88.0.1 a.test") == "198.51.100.7\n");

  // Nobody answers: SERVFAIL after the attempts, so the client need not wait for its own.
  f.reset();
  f = start(options({kDead}));
  a = ask(dnstest::query("a.test"));
  REQUIRE(a);
  CHECK(rcode_of(*a) == rcode::servfail);
  CHECK(get16(*a, 0) == 0x4242);
  auto s = f->stats().sandboxes["sb_one"];
  CHECK(s.upstream_timeouts == 2);
  CHECK(s.servfail == 1);
}

TEST_CASE("answers must match (spoofed IDs, questions, sources are dropped); truncation", "[forwarder]") {
  // The fake upstream is a socket in the upstream namespace that this test drives.
  SocketAddress fake = to(kFake, 53);
  UniqueFd up(socket_in(g_env.upstream_fd, AF_INET, SOCK_DGRAM));
  REQUIRE(::bind(up.get(), fake.get(), fake.length) == 0);
  SocketAddress other = to(kFake, 5353);
  UniqueFd up2(socket_in(g_env.upstream_fd, AF_INET, SOCK_DGRAM));
  REQUIRE(::bind(up2.get(), other.get(), other.length) == 0);
  auto f = start(options({std::string(kFake)}));

  UniqueFd client(socket_in(g_env.sandbox_fd, AF_INET, SOCK_DGRAM));
  SocketAddress gw = to(kGateway4, 53);
  auto q = dnstest::query("a.test", 1, 0x4242);
  REQUIRE(::sendto(client.get(), q.data(), q.size(), 0, gw.get(), gw.length) > 0);
  SocketAddress forwarder;
  auto seen = recv_within(up.get(), 2000, &forwarder);
  REQUIRE(seen);
  uint16_t upstream_id = get16(*seen, 0);
  CHECK(upstream_id != 0x4242);  // a fresh ID (1 in 65536 to fail by chance)
  const uint8_t addr[4] = {198, 51, 100, 7};
  auto answer = [&](uint16_t id, const std::string& name) {
    return Builder().header(id, 0x8180, 1, 1, 0, 0).question(name).a(addr).done();
  };
  auto send_from = [&](int fd, const std::vector<uint8_t>& m) {
    REQUIRE(::sendto(fd, m.data(), m.size(), 0, forwarder.get(), forwarder.length) > 0);
  };
  send_from(up.get(), answer(static_cast<uint16_t>(upstream_id + 1), "a.test"));  // wrong ID
  send_from(up.get(), answer(upstream_id, "b.test"));                             // wrong question
  send_from(up2.get(), answer(upstream_id, "a.test"));                            // wrong port
  CHECK(eventually(*f, [](const ForwarderStats& st) { return st.total.dropped_bad_answer == 3; }));
  CHECK_FALSE(recv_within(client.get(), 100));
  send_from(up.get(), answer(upstream_id, "A.TEST"));  // right (case does not matter)
  auto a = recv_within(client.get(), 2000);
  REQUIRE(a);
  CHECK(get16(*a, 0) == 0x4242);
  CHECK(records(*a) == Strings{"a.test. A 198.51.100.7"});
  // A second copy of the right answer finds no query any more.
  send_from(up.get(), answer(upstream_id, "a.test"));
  CHECK(eventually(*f, [](const ForwarderStats& st) { return st.total.dropped_bad_answer == 4; }));
  CHECK_FALSE(recv_within(client.get(), 100));

  // A truncated answer passes as it is: the client retries over TCP.
  REQUIRE(::sendto(client.get(), q.data(), q.size(), 0, gw.get(), gw.length) > 0);
  seen = recv_within(up.get(), 2000, &forwarder);
  REQUIRE(seen);
  auto tc = Builder().header(get16(*seen, 0), 0x8380, 1, 0, 0, 0).question("a.test").done();
  send_from(up.get(), tc);
  a = recv_within(client.get(), 2000);
  REQUIRE(a);
  CHECK((get16(*a, 2) & 0x0200) != 0);
  CHECK(get16(*a, 0) == 0x4242);
  // An answer larger than the client's 512 bytes (no EDNS) becomes header + question + TC.
  REQUIRE(::sendto(client.get(), q.data(), q.size(), 0, gw.get(), gw.length) > 0);
  seen = recv_within(up.get(), 2000, &forwarder);
  REQUIRE(seen);
  Builder big;
  big.header(get16(*seen, 0), 0x8180, 1, 40, 0, 0).question("a.test");
  for (int i = 0; i < 40; ++i) big.a(addr);
  REQUIRE(big.b.size() > 512);
  send_from(up.get(), big.b);
  a = recv_within(client.get(), 2000);
  REQUIRE(a);
  CHECK(a->size() <= 512);
  CHECK((get16(*a, 2) & 0x0200) != 0);
  CHECK(get16(*a, 6) == 0);
  CHECK(f->stats().sandboxes["sb_one"].truncated == 2);
}

TEST_CASE("the in-flight bounds hold under a flood", "[forwarder]") {
  // Nothing answers, so every admitted query stays in flight for two 300 ms attempts.
  auto o = options({kDead});
  o.max_in_flight = 30;
  o.max_in_flight_per_client = 20;
  auto f = start(o);
  REQUIRE(f->add_client(kSandbox6, "sb_two"));
  UniqueFd fd(socket_in(g_env.sandbox_fd, AF_INET, SOCK_DGRAM));
  SocketAddress gw = to(kGateway4, 53);
  for (int i = 0; i < 200; ++i) {
    auto q = dnstest::query("flood" + std::to_string(i) + ".test", 1, static_cast<uint16_t>(i));
    REQUIRE(::sendto(fd.get(), q.data(), q.size(), 0, gw.get(), gw.length) > 0);
  }
  CHECK(eventually(*f, [](const ForwarderStats& st) { return st.sandboxes.count("sb_one") && st.sandboxes.at("sb_one").queries == 200; }));
  auto s = f->stats();
  CHECK(s.sandboxes["sb_one"].dropped_over_limit == 180);
  // The other sandbox still gets in, up to the total bound.
  UniqueFd fd6(socket_in(g_env.sandbox_fd, AF_INET6, SOCK_DGRAM));
  SocketAddress gw6 = to(kGateway6, 53);
  for (int i = 0; i < 50; ++i) {
    auto q = dnstest::query("other" + std::to_string(i) + ".test");
    REQUIRE(::sendto(fd6.get(), q.data(), q.size(), 0, gw6.get(), gw6.length) > 0);
  }
  CHECK(eventually(*f, [](const ForwarderStats& st) { return st.sandboxes.count("sb_two") && st.sandboxes.at("sb_two").queries == 50; }));
  s = f->stats();
  CHECK(s.sandboxes["sb_two"].dropped_over_limit == 40);
  CHECK(s.total.dropped_over_limit == 220);
  CHECK(eventually(*f, [](const ForwarderStats& st) { return st.in_flight == 30; }));
  // They end in SERVFAIL, and the bound frees up.
  CHECK(eventually(*f, [](const ForwarderStats& st) { return st.total.servfail == 30 && st.in_flight == 0; }));
  int answers = 0;
  while (recv_within(fd.get(), 200)) ++answers;
  CHECK(answers == 20);
  auto last = ask(dnstest::query("a.test"));
  REQUIRE(last);
  CHECK(rcode_of(*last) == rcode::servfail);
  // The statistics turn into JSON.
  Json j = f->stats();
  CHECK(j["sandboxes"]["sb_two"]["dropped"]["over_limit"] == 40);
  CHECK(j["total"]["servfail"].get<int>() >= 31);
}

TEST_CASE("TCP bounds: connections per client, queries in flight", "[forwarder]") {
  auto o = options({kSilent});
  o.max_tcp_per_client = 2;
  o.max_in_flight_per_client = 2;
  auto f = start(o);
  UniqueFd c1 = tcp_connect(), c2 = tcp_connect(), c3 = tcp_connect();
  // The third is accepted by the kernel and closed by the forwarder at once.
  auto t0 = std::chrono::steady_clock::now();
  CHECK_FALSE(read_framed(c3.get(), 2000));
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);
  CHECK(eventually(*f, [](const ForwarderStats& st) { return st.sandboxes.count("sb_one") && st.sandboxes.at("sb_one").dropped_over_limit == 1; }));
  // Two queries wait for the dead upstream; the third is past the bound and gets SERVFAIL at
  // once, so the stream stays in step.
  send_framed(c1.get(), dnstest::query("a.test", 1, 1));
  send_framed(c1.get(), dnstest::query("a.test", 1, 2));
  send_framed(c1.get(), dnstest::query("a.test", 1, 3));
  auto first = read_framed(c1.get(), 250);
  REQUIRE(first);
  CHECK(get16(*first, 0) == 3);
  CHECK(rcode_of(*first) == rcode::servfail);
  // The waiting two end in SERVFAIL after two attempts each.
  std::set<uint16_t> later;
  for (int i = 0; i < 2; ++i) {
    auto a = read_framed(c1.get(), 3000);
    REQUIRE(a);
    CHECK(rcode_of(*a) == rcode::servfail);
    later.insert(get16(*a, 0));
  }
  CHECK(later == std::set<uint16_t>{1, 2});
  CHECK(f->stats().sandboxes["sb_one"].dropped_over_limit == 2);
}

TEST_CASE("handed-over sockets are served", "[forwarder]") {
  // As systemd's socket activation would pass them: bound elsewhere, the forwarder adopts them.
  UniqueFd u(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  UniqueFd t(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  SocketAddress at = to(kGateway4, 15053);
  REQUIRE(::bind(u.get(), at.get(), at.length) == 0);
  int one = 1;
  ::setsockopt(t.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  REQUIRE(::bind(t.get(), at.get(), at.length) == 0);
  REQUIRE(::listen(t.get(), 16) == 0);
  auto o = options({kLive});
  o.udp_fds = {u.release()};
  o.tcp_fds = {t.release()};
  auto f = start(o);
  CHECK(f->udp_addresses().size() == 1);
  CHECK(dig("+short @10.88.0.1 a.test") == "198.51.100.7\n");
  CHECK(dig("+tcp +short @10.88.0.1 a.test") == "198.51.100.7\n");
  // A TCP fd where a UDP one belongs is refused by name.
  UniqueFd wrong(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  auto bad = options({kLive});
  bad.udp_fds = {wrong.release()};
  auto r = Forwarder::start(bad);
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message(), Catch::Contains("is a TCP socket, not UDP"));
}

int main(int argc, char** argv) {
  if (::geteuid() != 0) return skip("needs root (network namespaces, nftables)");
  for (const char* tool : {"ip", "nft", "dnsmasq", "dig"}) {
    if (std::system((std::string("command -v ") + tool + " >/dev/null 2>&1 || test -x /usr/sbin/" + tool).c_str()) != 0)
      return skip(std::string("needs ") + tool + " (iproute2, nftables, dnsmasq-base, bind9-dnsutils)");
  }
  if (std::string why = g_env.setup(); !why.empty()) {
    g_env.teardown();
    return skip(why);
  }
  int rc = Catch::Session().run(argc, argv);
  g_env.teardown();
  return rc;
}
