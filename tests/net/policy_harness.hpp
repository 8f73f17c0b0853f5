// SPDX-License-Identifier: Apache-2.0
// The harness of the policy conformance suite (test_policy_conformance.cpp: what every
// backend must do; test_policy_backend_objects.cpp: each backend's own kernel objects): two
// network namespaces joined by a veth pair, probes that tell "delivered" from "dropped" by a
// backend's counters, and one adapter over EbpfPolicy and nft::NftPolicy. main() (in
// policy_harness.cpp) takes --backend ebpf|nftables.
//
//   sandbox netns  nxs0  198.51.100.2/24 10.99.0.2/24 2001:db8:1::2/64 fd00:99::2/64
//        | veth
//   host netns     nxh0  198.51.100.1/24 198.51.100.3/24 10.99.0.1/24 2001:db8:1::1/64 fd00:99::1/64
//                  (the policy is attached here; the test process lives in this netns)
//
// The addresses exist only inside these two namespaces. A probe that expects a drop waits
// until the backend has counted the dropped packet (a rule's or a default's counter), never
// for a fixed time; a short grace after that catches a packet that was counted but let through.
#pragma once

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "net/ebpf_policy.hpp"
#include "net/nft/nft_policy.hpp"
#include "net/policy.hpp"
#include "tests/net/netns_support.hpp"

namespace nexus::net::testing {

inline constexpr const char* kHost4 = "198.51.100.1";
inline constexpr const char* kHost4b = "198.51.100.3";
inline constexpr const char* kSandbox4 = "198.51.100.2";
inline constexpr const char* kHostPrivate4 = "10.99.0.1";
inline constexpr const char* kHost6 = "2001:db8:1::1";
inline constexpr const char* kSandbox6 = "2001:db8:1::2";
inline constexpr const char* kHostUla6 = "fd00:99::1";


// Two namespaces and the veth between them. The test process enters the host one. A reaper
// child deletes both namespaces when this process ends in any way (a crash or SIGKILL too).
struct Topology {
  std::string sandbox_ns, host_ns;
  int orig_fd = -1, sandbox_fd = -1, host_fd = -1;
  int ifindex = 0;
  pid_t reaper = -1;

  /// Creates the namespaces and the veth and enters the host namespace; "" or the reason.
  std::string setup();
  void teardown();

  // A socket in the sandbox namespace (sockets keep the namespace they were made in).
  int sandbox_socket(int domain, int type, int proto = 0) const {
    return socket_in(sandbox_fd, domain, type, proto).release();
  }
};

extern Topology g_topo;

/// A listening TCP socket (non-blocking) in the sandbox namespace or the host one.
UniqueFd listen_tcp(bool in_sandbox, const char* ip, uint16_t port);
UniqueFd bind_udp(bool in_sandbox, const char* ip, uint16_t port);

enum class Outcome { delivered, dropped, refused, nothing };
const char* name(Outcome o);

/// A TCP connection from `client_in_sandbox`'s side to ip:port, which `server` listens on.
Outcome tcp_probe(bool client_in_sandbox, const char* ip, uint16_t port, int server,
                  const std::function<bool()>& dropped);
/// One datagram of `size` bytes from `client` to ip:port, received (or not) on `server`.
Outcome udp_probe(int client, const char* ip, uint16_t port, int server, const std::function<bool()>& dropped,
                  size_t size = 32);
/// An ICMP(v6) echo from `from_sandbox`'s side to `ip`; delivered = the echo reply came back.
Outcome ping(bool from_sandbox, const char* ip, const std::function<bool()>& dropped);

Rule rule(const std::string& text);
RuleSet ruleset(std::initializer_list<std::string> rules);

// The backend under test, chosen by --backend (meson runs the file once per backend).
enum class Kind { ebpf, nftables };
extern Kind g_kind;

// What the scenarios need beyond PolicyBackend: the counters outside the rules, which both
// backends keep under the same names.
struct Stats {
  Counter egress_default, ingress_default, egress_reply, ingress_reply, related, ndp;
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
      return Stats{s->egress_default, s->ingress_default, s->egress_reply, s->ingress_reply, s->related, s->ndp};
    }
    auto s = nft_->stats();
    if (!s) return fail(std::move(s).error());
    return Stats{s->egress_default, s->ingress_default, s->egress_reply, s->ingress_reply, s->related, s->ndp};
  }
  EbpfPolicy* ebpf() const { return ebpf_; }
  nft::NftPolicy* nft() const { return nft_; }

 private:
  EbpfPolicy* ebpf_ = nullptr;
  nft::NftPolicy* nft_ = nullptr;
  std::unique_ptr<PolicyBackend> backend_;
};

/// The bytes a backend counts beyond the IP packet.
uint64_t link_header_bytes();
Result<std::unique_ptr<Policy>> try_attach(const RuleSet& set, int ifindex, const std::string& ifname);
/// On nxh0.
Result<std::unique_ptr<Policy>> try_attach(const RuleSet& set);
/// On nxh0; fails the test when the attach fails.
std::unique_ptr<Policy> attach(const RuleSet& set);

Counter counter_of(const Policy& p, const std::string& id);
/// "the rule's packet counter grew since now"
std::function<bool()> rule_counts(const Policy& p, const std::string& id);
std::function<bool()> default_counts(const Policy& p, Direction d);
std::function<bool()> never();

}  // namespace nexus::net::testing
