// SPDX-License-Identifier: Apache-2.0
// The host firewall of sandbox networking: the `inet nexus` table in the host's network
// namespace (NAT of the sandbox pool, the redirects to the egress gateway and the DNS
// forwarder, what sandboxes may reach on the host, no forwarding between sandboxes), and the
// forwarding sysctls it needs. README.md beside this file explains each chain.
//
// The per-sandbox L3/L4 policy is not here: it lives in its own table (nft_policy.hpp, or
// the eBPF backend), so replacing this table never touches a sandbox's rules.
//
// Not thread-safe; needs CAP_NET_ADMIN in the network namespace it works on (the caller's).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.hpp"
#include "common/result.hpp"
#include "net/policy.hpp"

namespace nexus::net::nft {

inline constexpr const char* kHostTable = "nexus";  ///< family inet; the default table name

struct HostFirewallConfig {
  Cidr pool4 = *Cidr::parse("10.88.0.0/16");  ///< sandboxes' IPv4 addresses (a /30 each)
  std::optional<Cidr> pool6;                  ///< IPv6 pool when IPv6 is enabled (a /126 each)
  uint16_t http_port = 15080;  ///< the egress gateway's port for redirected tcp/80
  uint16_t tls_port = 15443;   ///< the egress gateway's port for redirected tcp/443
  uint16_t dns_port = 15053;   ///< the DNS forwarder's port for udp+tcp/53 to the host
  std::string prefix = "nxs";  ///< every sandbox's host-side interface name starts with it
  /// The table's name (family inet): one per nexusd, so two of them on one host (a test's
  /// beside the installed one) never replace each other's rules.
  std::string table = kHostTable;
};

/// Errc::invalid_argument naming the field and the value: pool4 not IPv4 or not between /8
/// and /30, pool6 not IPv6 or not between /16 and /126, a port 0 or two ports equal, a
/// prefix empty, longer than 8 or not [a-z0-9] (an empty prefix would match every interface).
Result<void> validate(const HostFirewallConfig& config);

/// Whether `name` can name the table: 1-32 of a-z, 0-9 and _ (nexusd.toml checks it too).
bool valid_table_name(std::string_view name);

/// The nft commands that create or replace the table in one transaction ("add table",
/// "delete table", then the table's definition). Pure: unit tests read it.
std::string render_host_table(const HostFirewallConfig& config, const std::vector<std::string>& interfaces = {});

struct FirewallRule {
  std::string chain;
  uint64_t handle = 0;
  std::string comment;  ///< each rule of the table says what it is ("masquerade-ipv4")
  uint64_t packets = 0, bytes = 0;
};

struct FirewallStatus {
  bool present = false;
  std::vector<FirewallRule> rules;  ///< in chain order
};

class HostFirewall {
 public:
  /// Validates the config.
  static Result<HostFirewall> create(HostFirewallConfig config);

  /// Creates the table, or replaces it atomically: the old table is deleted and the new one
  /// created in the same transaction, so no packet sees the host without the rules. The rules
  /// match the sandboxes' host-side interfaces through the table's set `sandboxes`, which
  /// starts with `interfaces` (the live sandboxes').
  Result<void> install(const std::vector<std::string>& interfaces = {}) const;
  /// Adds or removes one sandbox interface of the set (remove: nothing when it is not there).
  Result<void> add_interface(const std::string& ifname) const;
  Result<void> remove_interface(const std::string& ifname) const;
  /// Deletes the table (nothing when it is not there).
  Result<void> remove() const;
  /// Whether the table is there, and each rule's handle and counter (for `nexus doctor`).
  Result<FirewallStatus> status() const;

  const HostFirewallConfig& config() const { return config_; }

 private:
  explicit HostFirewall(HostFirewallConfig c) : config_(std::move(c)) {}
  HostFirewallConfig config_;
};

/// A base chain of another table on the forward hook whose policy is drop: Docker's
/// `table ip filter chain FORWARD` above all. It drops sandbox traffic whatever this table
/// accepts (every base chain of a hook must accept a packet), so nexusd and `nexus doctor`
/// say so, with the way out.
struct ForeignForwardDrop {
  std::string family, table, chain;
  bool docker_user = false;  ///< the table has Docker's DOCKER-USER chain (jumped to from FORWARD)
  std::string to_string() const;  ///< "table ip filter chain FORWARD"
};

/// The forward-hook chains with policy drop in a `list chains` listing (the "nftables" array),
/// leaving out the table `own_table` of family inet. Pure: unit tests read it.
std::vector<ForeignForwardDrop> forward_drop_chains(const Json& listing, std::string_view own_table);
/// The same for the caller's namespace, listed now.
Result<std::vector<ForeignForwardDrop>> foreign_forward_drops(std::string_view own_table);
/// What to tell the operator about them: which chains, what it does to sandboxes, the
/// commands that let sandbox traffic through (DOCKER-USER when Docker's chain exists).
std::string describe_forward_drops(const std::vector<ForeignForwardDrop>& drops, std::string_view prefix);

/// What enable_forwarding() changed: "net.ipv4.ip_forward 0 -> 1" and the like.
struct ForwardingChanges {
  std::vector<std::string> changed;
};

/// Turns on IPv4 forwarding, and IPv6 forwarding only when the config has an IPv6 pool.
/// Before IPv6 forwarding, each interface that accepts router advertisements (accept_ra 1)
/// is set to 2 so the host keeps its autoconfigured routes (with forwarding on, 1 stops
/// taking them). The sandbox interfaces (the prefix) are left alone: their RAs come from
/// sandboxes, which must never configure the host. Works on the caller's namespace.
Result<ForwardingChanges> enable_forwarding(const HostFirewallConfig& config);

}  // namespace nexus::net::nft
