// SPDX-License-Identifier: Apache-2.0
// The harness of the policy conformance suite (policy_harness.hpp), and its main():
// --backend ebpf|nftables picks the backend; checks tagged for the other backend are left out.
#define CATCH_CONFIG_RUNNER
#include <catch.hpp>

#include "tests/net/policy_harness.hpp"

#include <arpa/inet.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <vector>

using namespace std::chrono_literals;

namespace nexus::net::testing {

Topology g_topo;
Kind g_kind = Kind::ebpf;

namespace {

// Waits until `ready` reports something or `dropped` turns true; after a drop, a short grace
// catches a packet that was counted but not dropped. The deadline only ends a broken test.
Outcome wait_for(const std::function<std::optional<Outcome>(int timeout_ms)>& ready,
                 const std::function<bool()>& dropped) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto o = ready(20)) return *o;
    if (dropped()) {
      if (auto o = ready(300)) return *o;
      return Outcome::dropped;
    }
  }
  return Outcome::nothing;
}

std::function<std::optional<Outcome>(int)> pollable(int fd, short events, std::function<Outcome()> then) {
  return [=](int timeout_ms) -> std::optional<Outcome> {
    pollfd p{fd, events, 0};
    if (::poll(&p, 1, timeout_ms) > 0) return then();
    return std::nullopt;
  };
}

uint16_t inet_checksum(const uint8_t* data, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += static_cast<uint32_t>(data[i] << 8 | data[i + 1]);
  if (len & 1) sum += static_cast<uint32_t>(data[len - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(static_cast<uint16_t>(~sum));
}

}  // namespace

std::string Topology::setup() {
  const std::string id = std::to_string(::getpid());
  sandbox_ns = "nxnet-s-" + id;
  host_ns = "nxnet-h-" + id;
  reaper = start_reaper(netns_del_command({sandbox_ns, host_ns}));
  if (reaper < 0) return "cannot start the reaper";
  if (!add_netns({sandbox_ns, host_ns})) return "cannot create network namespaces (ip netns add)";
  const std::string H = "ip -n " + host_ns + " ", S = "ip -n " + sandbox_ns + " ";
  bool ok = sh("ip link add name nxh0 netns " + host_ns + " type veth peer name nxs0 netns " + sandbox_ns) &&
            sh(H + "addr add 198.51.100.1/24 dev nxh0") && sh(H + "addr add 198.51.100.3/24 dev nxh0") &&
            sh(H + "addr add 10.99.0.1/24 dev nxh0") &&
            sh(H + "addr add 2001:db8:1::1/64 dev nxh0 nodad") &&
            sh(H + "addr add fd00:99::1/64 dev nxh0 nodad") &&
            sh(S + "addr add 198.51.100.2/24 dev nxs0") && sh(S + "addr add 10.99.0.2/24 dev nxs0") &&
            sh(S + "addr add 2001:db8:1::2/64 dev nxs0 nodad") &&
            sh(S + "addr add fd00:99::2/64 dev nxs0 nodad") &&
            sh(H + "link set lo up") && sh(S + "link set lo up") &&
            sh(H + "link set nxh0 up") && sh(S + "link set nxs0 up");
  if (!ok) return "cannot create the veth pair";
  orig_fd = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  sandbox_fd = open_netns(sandbox_ns);
  host_fd = open_netns(host_ns);
  if (orig_fd < 0 || sandbox_fd < 0 || host_fd < 0) return "cannot open the namespaces";
  if (::setns(host_fd, CLONE_NEWNET) != 0) return "setns into the host namespace failed";
  ifindex = static_cast<int>(::if_nametoindex("nxh0"));
  return ifindex > 0 ? "" : "nxh0 not found";
}

void Topology::teardown() {
  if (orig_fd >= 0) ::setns(orig_fd, CLONE_NEWNET);
  del_netns({sandbox_ns, host_ns});
}

UniqueFd listen_tcp(bool in_sandbox, const char* ip, uint16_t port) {
  Addr a = addr(ip, port);
  int fd = in_sandbox ? g_topo.sandbox_socket(a.family(), SOCK_STREAM | SOCK_NONBLOCK)
                      : ::socket(a.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a.ss), a.len) == 0);
  REQUIRE(::listen(fd, 64) == 0);
  return UniqueFd(fd);
}

UniqueFd bind_udp(bool in_sandbox, const char* ip, uint16_t port) {
  Addr a = addr(ip, port);
  int fd = in_sandbox ? g_topo.sandbox_socket(a.family(), SOCK_DGRAM | SOCK_NONBLOCK)
                      : ::socket(a.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int big = 4 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a.ss), a.len) == 0);
  return UniqueFd(fd);
}

const char* name(Outcome o) {
  switch (o) {
    case Outcome::delivered: return "delivered";
    case Outcome::dropped: return "dropped";
    case Outcome::refused: return "refused";
    case Outcome::nothing: break;
  }
  return "nothing (neither delivered nor counted as dropped)";
}

// A TCP connection from `client_in_sandbox`'s side to ip:port, which `server` listens on.
Outcome tcp_probe(bool client_in_sandbox, const char* ip, uint16_t port, int server,
                  const std::function<bool()>& dropped) {
  Addr a = addr(ip, port);
  UniqueFd c(client_in_sandbox ? g_topo.sandbox_socket(a.family(), SOCK_STREAM | SOCK_NONBLOCK)
                               : ::socket(a.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  int r = ::connect(c.get(), reinterpret_cast<sockaddr*>(&a.ss), a.len);
  REQUIRE((r == 0 || errno == EINPROGRESS));
  Outcome o = wait_for(pollable(c.get(), POLLOUT, [&] {
                         int err = 0;
                         socklen_t len = sizeof(err);
                         ::getsockopt(c.get(), SOL_SOCKET, SO_ERROR, &err, &len);
                         return err == 0 ? Outcome::delivered : Outcome::refused;
                       }),
                       dropped);
  if (o == Outcome::delivered) {
    // The server really has it.
    pollfd p{server, POLLIN, 0};
    REQUIRE(::poll(&p, 1, 5000) == 1);
    UniqueFd accepted(::accept4(server, nullptr, nullptr, SOCK_CLOEXEC));
    CHECK(accepted.get() >= 0);
  }
  return o;
}

// One datagram of `size` bytes from `client` to ip:port, received (or not) on `server`.
Outcome udp_probe(int client, const char* ip, uint16_t port, int server, const std::function<bool()>& dropped,
                  size_t size) {
  Addr a = addr(ip, port);
  std::string payload(size, 'x');
  REQUIRE(::sendto(client, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&a.ss), a.len) ==
          static_cast<ssize_t>(payload.size()));
  return wait_for(pollable(server, POLLIN, [&] {
                    char buf[2048];
                    ::recv(server, buf, sizeof(buf), 0);
                    return Outcome::delivered;
                  }),
                  dropped);
}

// An ICMP(v6) echo from `from_sandbox`'s side to `ip`; delivered = the echo reply came back.
Outcome ping(bool from_sandbox, const char* ip, const std::function<bool()>& dropped) {
  static uint16_t seq = 0;
  Addr a = addr(ip, 0);
  const bool v6 = a.family() == AF_INET6;
  const int proto = v6 ? int{IPPROTO_ICMPV6} : int{IPPROTO_ICMP};
  UniqueFd s(from_sandbox ? g_topo.sandbox_socket(a.family(), SOCK_RAW | SOCK_NONBLOCK, proto)
                          : ::socket(a.family(), SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto));
  REQUIRE(s.get() >= 0);
  const uint16_t ident = static_cast<uint16_t>(0x4e00 + (++seq));
  uint8_t pkt[24] = {};
  pkt[0] = v6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
  pkt[4] = static_cast<uint8_t>(ident >> 8);
  pkt[5] = static_cast<uint8_t>(ident);
  pkt[7] = 1;
  if (!v6) {  // the kernel fills ICMPv6 checksums in
    uint16_t ck = inet_checksum(pkt, sizeof(pkt));
    std::memcpy(pkt + 2, &ck, 2);
  }
  ssize_t sent = ::sendto(s.get(), pkt, sizeof(pkt), 0, reinterpret_cast<sockaddr*>(&a.ss), a.len);
  const int send_errno = errno;
  INFO("ping " << ip << ": sendto: " << std::strerror(send_errno));
  // A drop on the TC egress hook of the sending side's own device comes back as ENOBUFS; a
  // drop by a netfilter hook on the way out of this host comes back as EPERM.
  REQUIRE((sent == static_cast<ssize_t>(sizeof(pkt)) || send_errno == ENOBUFS || send_errno == EPERM));
  auto deadline = std::chrono::steady_clock::now() + 10s;
  bool seen_drop = false;
  auto drop_at = deadline;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{s.get(), POLLIN, 0};
    if (::poll(&p, 1, 20) > 0) {
      uint8_t buf[1500];
      ssize_t n = ::recv(s.get(), buf, sizeof(buf), 0);
      size_t off = v6 ? 0 : static_cast<size_t>(buf[0] & 0xf) * 4;
      if (n >= static_cast<ssize_t>(off + 8) && buf[off] == (v6 ? ICMP6_ECHO_REPLY : ICMP_ECHOREPLY) &&
          buf[off + 4] == (ident >> 8) && buf[off + 5] == (ident & 0xff))
        return Outcome::delivered;
      continue;
    }
    if (!seen_drop && dropped()) {
      seen_drop = true;
      drop_at = std::chrono::steady_clock::now() + 300ms;
    }
    if (seen_drop && std::chrono::steady_clock::now() > drop_at) return Outcome::dropped;
  }
  return Outcome::nothing;
}

Rule rule(const std::string& text) {
  auto r = parse_rule_text(text);
  INFO(text);
  REQUIRE(r);
  return *r;
}

RuleSet ruleset(std::initializer_list<std::string> rules) {
  RuleSet set;
  for (const auto& r : rules) set.rules.push_back(rule(r));
  return set;
}

// The bytes a backend counts beyond the IP packet: eBPF at TC sees the Ethernet header,
// nftables' hooks see the IP packet only.
uint64_t link_header_bytes() { return g_kind == Kind::ebpf ? 14 : 0; }

Result<std::unique_ptr<Policy>> try_attach(const RuleSet& set, int ifindex, const std::string& ifname) {
  if (g_kind == Kind::ebpf) {
    auto p = EbpfPolicy::attach(ifindex, set);
    if (!p) return fail(std::move(p).error());
    return std::make_unique<Policy>(std::move(*p));
  }
  auto p = nft::NftPolicy::attach(ifname, set);
  if (!p) return fail(std::move(p).error());
  return std::make_unique<Policy>(std::move(*p));
}

Result<std::unique_ptr<Policy>> try_attach(const RuleSet& set) { return try_attach(set, g_topo.ifindex, "nxh0"); }

Counter counter_of(const Policy& p, const std::string& id) {
  auto counters = p.rule_counters();
  REQUIRE(counters);
  for (const auto& c : *counters)
    if (c.id == id) return c.counter;
  FAIL("no rule '" << id << "'");
  return {};
}

// "the rule's packet counter grew since now"
std::function<bool()> rule_counts(const Policy& p, const std::string& id) {
  uint64_t before = counter_of(p, id).packets;
  return [&p, id, before] { return counter_of(p, id).packets > before; };
}

std::function<bool()> default_counts(const Policy& p, Direction d) {
  auto get = [&p, d] {
    auto s = p.stats();
    REQUIRE(s);
    return d == Direction::egress ? s->egress_default.packets : s->ingress_default.packets;
  };
  uint64_t before = get();
  return [get, before] { return get() > before; };
}

std::function<bool()> never() {
  return [] { return false; };
}

std::unique_ptr<Policy> attach(const RuleSet& set) {
  auto p = try_attach(set);
  if (!p) FAIL("attach: " << p.error().message());
  return std::move(*p);
}

}  // namespace nexus::net::testing

using namespace nexus;
using namespace nexus::net;
using namespace nexus::net::testing;

int main(int argc, char** argv) {
  // --backend ebpf|nftables picks the backend; the rest goes to Catch.
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--backend" && i + 1 < argc) {
      std::string b = argv[++i];
      if (b == "ebpf") {
        g_kind = Kind::ebpf;
      } else if (b == "nftables") {
        g_kind = Kind::nftables;
      } else {
        std::fprintf(stderr, "--backend %s: ebpf or nftables\n", b.c_str());
        return 2;
      }
      continue;
    }
    args.push_back(argv[i]);
  }
  const bool ebpf = g_kind == Kind::ebpf;
  if (::geteuid() != 0)
    return skip(ebpf ? "needs root (network namespaces, CAP_BPF, CAP_NET_ADMIN)"
                     : "needs root (network namespaces, CAP_NET_ADMIN)");
  const char* tools = ebpf ? "command -v ip >/dev/null && command -v tc >/dev/null && command -v bpftool >/dev/null"
                           : "command -v ip >/dev/null && command -v nft >/dev/null";
  if (std::system(tools) != 0)
    return skip(ebpf ? "needs ip and tc (iproute2) and bpftool" : "needs ip (iproute2) and nft (nftables)");
  if (std::string why = g_topo.setup(); !why.empty()) {
    g_topo.teardown();
    return skip(why);
  }
  {
    auto probe = try_attach(RuleSet{});
    if (!probe) {
      g_topo.teardown();
      return skip(std::string(ebpf ? "eBPF TC" : "nftables") + " policy unavailable here: " +
                  probe.error().message());
    }
  }
  Catch::Session session;
  int rc = session.applyCommandLine(static_cast<int>(args.size()), args.data());
  if (rc != 0) return rc;
  // The other backend's own checks do not apply.
  session.configData().testsOrTags.push_back(ebpf ? "~[nftables]" : "~[ebpf]");
  rc = session.run();
  g_topo.teardown();
  return rc;
}
