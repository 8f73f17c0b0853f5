// SPDX-License-Identifier: Apache-2.0
// A sandbox's own network: a network namespace (bind-mounted at <netns_dir>/<sandbox id>, so it
// outlives nexusd and a restarted nexusd finds it), a veth pair from the host namespace into it
// ("nxs..." on the host, eth0 inside), the addresses of one block of the pool and a default
// route through the host side. Made with netlink (libnl-route), not by running `ip`.
//
//   host netns: nxsXXXXXXXXXXXX 10.88.B.1/30 [fd4e:7800::B:1/126]
//                    | veth
//   sandbox:    eth0 10.88.B.2/30 [..::B:2/126], lo up, default via the host side
//
// Policy (PolicyBackend), NAT and the host firewall (net/nft) act on the host-side end; this
// file only makes and removes the plumbing. Needs CAP_NET_ADMIN and CAP_SYS_ADMIN (root).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "net/policy.hpp"

namespace nexus::net {

/// Interfaces on the host that belong to sandboxes all start with this, and nothing else does.
inline constexpr std::string_view kHostIfPrefix = "nxs";

/// One sandbox's addresses: block `index` of the pool.
struct SandboxAddresses {
  uint32_t index = 0;
  std::string host4, sandbox4;  ///< dotted quads; the host side is the gateway and DNS server
  int prefix4 = 30;
  std::string host6, sandbox6;  ///< empty without an IPv6 pool
  int prefix6 = 126;
  bool has_ipv6() const { return !sandbox6.empty(); }
};

/// Where sandbox addresses come from: an IPv4 network cut into /30 blocks (one per sandbox)
/// and, optionally, an IPv6 network cut into /126 blocks with the same index.
class AddressPool {
 public:
  /// "10.88.0.0/16" (prefix 8..28), and "" or e.g. "fd4e:7800::/64" (prefix 16..112).
  /// Errc::invalid_argument naming the value otherwise.
  static Result<AddressPool> parse(std::string_view v4, std::string_view v6 = "");
  uint32_t capacity() const { return capacity_; }
  /// Errc::invalid_argument when index >= capacity().
  Result<SandboxAddresses> addresses(uint32_t index) const;
  const Cidr& v4() const { return v4_; }
  const std::optional<Cidr>& v6() const { return v6_; }

 private:
  Cidr v4_;
  std::optional<Cidr> v6_;
  uint32_t capacity_ = 0;
};

/// The IPv6 pool that "auto" picks: a unique-local /64 named after the IPv4 pool,
/// fd6e:7875:AABB:CCDD::/64 for AA.BB.CC.DD/N, so nexusd instances with different IPv4 pools
/// never share an IPv6 address either.
Cidr auto_pool6(const Cidr& v4);

/// Whether /proc/net/ipv6_route (its text given) holds a usable default route: ::/0, up, not
/// a reject route, on an interface other than lo.
bool has_ipv6_default_route(std::string_view ipv6_route);

/// Whether this host's network namespace has IPv6 to give sandboxes; when not, why not
/// ("IPv6 is disabled", "no IPv6 default route").
Result<void> host_ipv6_usable();

/// "nxs" + 12 characters from the sandbox id (or a hash of it): at most 15, IFNAMSIZ - 1.
std::string host_ifname(std::string_view sandbox_id);

struct NetworkSpec {
  std::string sandbox_id;  ///< [A-Za-z0-9_.-], at most 64
  std::string netns_dir;   ///< e.g. /run/nexus/netns (created, made a shared mount point)
  SandboxAddresses addresses;
  uint32_t mtu = 1500;
};

struct SandboxNetwork {
  std::string netns_path;
  std::string host_ifname;
  int host_ifindex = 0;
  SandboxAddresses addresses;
};

/// Makes the namespace, the veth pair, the addresses and the route. On error everything made
/// so far is removed again; Errc::already_exists when the sandbox's namespace or interface
/// is there already (a leftover: destroy_sandbox_network first).
Result<SandboxNetwork> create_sandbox_network(const NetworkSpec& spec);

/// Deletes the host-side interface (the kernel removes its peer) and unmounts and removes
/// the namespace file; the namespace itself goes with its last user. Idempotent.
Result<void> destroy_sandbox_network(std::string_view sandbox_id, const std::string& netns_dir);

/// What exists now, for cleaning up after a crash: the ids with a namespace file under
/// netns_dir, and the host's interfaces whose names start with kHostIfPrefix.
std::vector<std::string> list_sandbox_namespaces(const std::string& netns_dir);
Result<std::vector<std::string>> list_host_interfaces();
/// Deletes one host interface by name (a leftover "nxs..." veth). Idempotent.
Result<void> delete_host_interface(const std::string& ifname);

/// The interface index of `ifname` in the caller's namespace; Errc::not_found without it.
Result<int> interface_index(const std::string& ifname);

}  // namespace nexus::net
