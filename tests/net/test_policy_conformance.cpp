// SPDX-License-Identifier: Apache-2.0
// The policy backends for real, one conformance suite for both: two network namespaces joined
// by a veth pair, the policy attached to the host-side end through PolicyBackend, real TCP,
// UDP and ICMP between them. `--backend ebpf` (the default) runs it against EbpfPolicy,
// `--backend nftables` against nft::NftPolicy; every scenario means the same for both, and
// the few checks that look at a backend's own kernel objects are tagged [ebpf] or [nftables].
// Needs root (netns, CAP_NET_ADMIN, and CAP_BPF for eBPF) and iproute2; exits 77 with the
// reason otherwise.
//
//   sandbox netns  nxs0  198.51.100.2/24 10.99.0.2/24 2001:db8:1::2/64 fd00:99::2/64
//        | veth
//   host netns     nxh0  198.51.100.1/24 198.51.100.3/24 10.99.0.1/24 2001:db8:1::1/64 fd00:99::1/64
//                  (the policy is attached here; the test process lives in this netns)
//
// The addresses exist only inside these two namespaces. A probe that expects a drop waits
// until the program has counted the dropped packet (a rule's or a default's counter), never
// for a fixed time; a short grace after that catches a packet that was counted but let through.
#define CATCH_CONFIG_RUNNER
#include <catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
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
#include <set>
#include <string>
#include <thread>

#include "common/json.hpp"
#include "common/unique_fd.hpp"
#include "net/ebpf_policy.hpp"
#include "net/nft/nft_policy.hpp"

using namespace nexus;
using namespace nexus::net;
using namespace std::chrono_literals;

namespace {

constexpr const char* kHost4 = "198.51.100.1";
constexpr const char* kHost4b = "198.51.100.3";
constexpr const char* kSandbox4 = "198.51.100.2";
constexpr const char* kHostPrivate4 = "10.99.0.1";
constexpr const char* kHost6 = "2001:db8:1::1";
constexpr const char* kSandbox6 = "2001:db8:1::2";
constexpr const char* kHostUla6 = "fd00:99::1";

std::string run(const std::string& cmd, int* status = nullptr) {
  std::string out;
  FILE* f = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!f) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  int st = ::pclose(f);
  if (status) *status = st;
  return out;
}

bool sh(const std::string& cmd) {
  int st = 0;
  std::string out = run(cmd, &st);
  if (st != 0) std::fprintf(stderr, "command failed: %s\n%s", cmd.c_str(), out.c_str());
  return st == 0;
}

// Two namespaces and the veth between them. The test process enters the host one. A reaper
// child deletes both namespaces when this process ends in any way (a crash or SIGKILL too).
struct Topology {
  std::string sandbox_ns, host_ns;
  int orig_fd = -1, sandbox_fd = -1, host_fd = -1;
  int ifindex = 0;
  pid_t reaper = -1;

  std::string setup() {
    const std::string id = std::to_string(::getpid());
    sandbox_ns = "nxnet-s-" + id;
    host_ns = "nxnet-h-" + id;
    int pipefd[2];
    if (::pipe(pipefd) != 0) return "pipe failed";
    reaper = ::fork();
    if (reaper == 0) {
      ::close(pipefd[1]);
      ::setsid();
      char c;
      while (::read(pipefd[0], &c, 1) > 0) {}
      std::string cmd = "ip netns del " + sandbox_ns + " 2>/dev/null; ip netns del " + host_ns + " 2>/dev/null";
      ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      ::_exit(0);
    }
    ::close(pipefd[0]);  // the write end stays open (and leaks into exec'd children: harmless)
    ::fcntl(pipefd[1], F_SETFD, FD_CLOEXEC);

    if (!sh("ip netns add " + sandbox_ns) || !sh("ip netns add " + host_ns))
      return "cannot create network namespaces (ip netns add)";
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
    sandbox_fd = ::open(("/run/netns/" + sandbox_ns).c_str(), O_RDONLY | O_CLOEXEC);
    host_fd = ::open(("/run/netns/" + host_ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (orig_fd < 0 || sandbox_fd < 0 || host_fd < 0) return "cannot open the namespaces";
    if (::setns(host_fd, CLONE_NEWNET) != 0) return "setns into the host namespace failed";
    ifindex = static_cast<int>(::if_nametoindex("nxh0"));
    return ifindex > 0 ? "" : "nxh0 not found";
  }

  void teardown() {
    if (orig_fd >= 0) ::setns(orig_fd, CLONE_NEWNET);
    if (!sandbox_ns.empty()) run("ip netns del " + sandbox_ns);
    if (!host_ns.empty()) run("ip netns del " + host_ns);
  }

  // A socket in the sandbox namespace (sockets keep the namespace they were made in).
  int sandbox_socket(int domain, int type, int proto = 0) const {
    ::setns(sandbox_fd, CLONE_NEWNET);
    int fd = ::socket(domain, type | SOCK_CLOEXEC, proto);
    ::setns(host_fd, CLONE_NEWNET);
    return fd;
  }
};

Topology g_topo;

struct Addr {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family() const { return ss.ss_family; }
};

Addr addr(const char* ip, uint16_t port) {
  Addr a;
  if (std::strchr(ip, ':')) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&a.ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    ::inet_pton(AF_INET6, ip, &s6->sin6_addr);
    a.len = sizeof(*s6);
  } else {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&a.ss);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    ::inet_pton(AF_INET, ip, &s4->sin_addr);
    a.len = sizeof(*s4);
  }
  return a;
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

enum class Outcome { delivered, dropped, refused, nothing };

const char* name(Outcome o) {
  switch (o) {
    case Outcome::delivered: return "delivered";
    case Outcome::dropped: return "dropped";
    case Outcome::refused: return "refused";
    case Outcome::nothing: break;
  }
  return "nothing (neither delivered nor counted as dropped)";
}

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
                  size_t size = 32) {
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

uint16_t inet_checksum(const uint8_t* data, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += static_cast<uint32_t>(data[i] << 8 | data[i + 1]);
  if (len & 1) sum += static_cast<uint32_t>(data[len - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(static_cast<uint16_t>(~sum));
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

// The backend under test, chosen by --backend (meson runs the file once per backend).
enum class Kind { ebpf, nftables };
Kind g_kind = Kind::ebpf;

// What the scenarios need beyond PolicyBackend: the counters outside the rules, which both
// backends keep under the same names.
struct Stats {
  Counter egress_default, ingress_default, egress_reply, ingress_reply, related;
};

// One attached backend, used only through PolicyBackend plus stats() and generation().
class Policy {
 public:
  explicit Policy(std::unique_ptr<EbpfPolicy> p) : ebpf_(p.get()), backend_(std::move(p)) {}
  explicit Policy(std::unique_ptr<nft::NftPolicy> p) : nft_(p.get()), backend_(std::move(p)) {}

  Result<void> replace(const RuleSet& set) { return backend_->replace(set); }
  Result<std::vector<RuleCounter>> rule_counters() const { return backend_->rule_counters(); }
  Result<void> detach() { return backend_->detach(); }
  std::string_view name() const { return backend_->name(); }
  uint32_t generation() const { return ebpf_ ? ebpf_->generation() : nft_->generation(); }
  Result<Stats> stats() const {
    if (ebpf_) {
      auto s = ebpf_->stats();
      if (!s) return fail(std::move(s).error());
      return Stats{s->egress_default, s->ingress_default, s->egress_reply, s->ingress_reply, s->related};
    }
    auto s = nft_->stats();
    if (!s) return fail(std::move(s).error());
    return Stats{s->egress_default, s->ingress_default, s->egress_reply, s->ingress_reply, s->related};
  }
  EbpfPolicy* ebpf() const { return ebpf_; }
  nft::NftPolicy* nft() const { return nft_; }

 private:
  EbpfPolicy* ebpf_ = nullptr;
  nft::NftPolicy* nft_ = nullptr;
  std::unique_ptr<PolicyBackend> backend_;
};

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

std::set<uint32_t> bpftool_ids(const char* what) {
  std::set<uint32_t> ids;
  auto j = parse_json(run(std::string("bpftool -j ") + what + " show"));
  if (!j || !j->is_array()) return ids;
  for (const auto& o : *j)
    if (o.contains("id")) ids.insert(o["id"].get<uint32_t>());
  return ids;
}

}  // namespace

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

// A sandbox's chains in the policy table, as the nft program lists them.
static std::string nft_policy_listing() { return run("nft -y list table inet nexus_policy"); }

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
  if (::geteuid() != 0) {
    std::puts(ebpf ? "SKIP: needs root (network namespaces, CAP_BPF, CAP_NET_ADMIN)"
                   : "SKIP: needs root (network namespaces, CAP_NET_ADMIN)");
    return 77;
  }
  const char* tools = ebpf ? "command -v ip >/dev/null && command -v tc >/dev/null && command -v bpftool >/dev/null"
                           : "command -v ip >/dev/null && command -v nft >/dev/null";
  if (std::system(tools) != 0) {
    std::puts(ebpf ? "SKIP: needs ip and tc (iproute2) and bpftool" : "SKIP: needs ip (iproute2) and nft (nftables)");
    return 77;
  }
  std::string why = g_topo.setup();
  if (!why.empty()) {
    g_topo.teardown();
    std::printf("SKIP: %s\n", why.c_str());
    return 77;
  }
  {
    auto probe = try_attach(RuleSet{});
    if (!probe) {
      g_topo.teardown();
      std::printf("SKIP: %s policy unavailable here: %s\n", ebpf ? "eBPF TC" : "nftables",
                  probe.error().message().c_str());
      return 77;
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
