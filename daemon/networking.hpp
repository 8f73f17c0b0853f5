// SPDX-License-Identifier: Apache-2.0
// Networking: every sandbox's own network (DESIGN.md §8) as nexusd runs it. It hands out
// address blocks, makes and removes each sandbox's namespace and veth (net/sandbox_network),
// keeps one policy backend object per sandbox on its host-side veth (eBPF, else nftables, else
// none when the operator allows it; chosen once at start-up, with the reason logged) and
// re-attaches them to sandboxes adopted after a restart.
//
// Thread affinity: the daemon loop thread.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/json.hpp"
#include "common/result.hpp"
#include "daemon/config.hpp"
#include "daemon/network_settings.hpp"
#include "daemon/sandbox_record.hpp"
#include "net/policy_backend.hpp"
#include "net/dns/forwarder.hpp"
#include "net/egress/gateway.hpp"
#include "net/nft/host_firewall.hpp"
#include "net/sandbox_network.hpp"

namespace nexus::daemon {

/// Which policy backend enforces the rules, and why that one.
struct PolicyBackendChoice {
  std::string name;    ///< "ebpf", "nftables" or "none"
  std::string reason;  ///< e.g. "the TC classifier loaded" or why eBPF could not be used
};

class Networking {
 public:
  explicit Networking(const DaemonConfig& config);
  ~Networking();

  /// Parses the pool and picks the policy backend. Errors only for a bad configuration.
  Result<void> start();
  /// After adoption: installs (or replaces, atomically) the host firewall and NAT with the
  /// adopted sandboxes' interfaces, and turns on IP forwarding. Without it sandboxes with a
  /// network are refused, since nothing would keep them from the host.
  void install_firewall();
  /// Then: the egress gateway (fail-closed until the global policy and every sandbox are
  /// loaded) on the gateway ports the firewall redirects to.
  void start_gateway();
  const PolicyBackendChoice& backend() const { return choice_; }

  /// Makes `r`'s network (its block is r.net_index, given by allocate()) and attaches its
  /// policy from r.network. On error nothing of it is left.
  Result<net::SandboxNetwork> setup(const SandboxRecord& r);
  /// A free address block (recorded by setup(), freed by teardown()); too_large when the pool
  /// is exhausted.
  Result<int64_t> allocate();
  /// Takes over a sandbox that outlived a nexusd restart: marks its block used and attaches
  /// a fresh policy object (replacing the one the previous nexusd left on the interface).
  Result<void> adopt(const SandboxRecord& r);
  /// Detaches the policy, removes the namespace and veth, frees the block. Idempotent.
  Result<void> teardown(const SandboxRecord& r);
  /// Removes the networks of sandboxes not in `live` whose namespace files are still in this
  /// nexusd's netns directory (after a crash). Interfaces are found through their namespaces,
  /// never by name alone: another nexusd (a test's) may own other "nxs" interfaces.
  void remove_leftovers(const std::set<std::string>& live);

  /// Replaces a running sandbox's rules (record.network must already hold them).
  Result<void> apply(const SandboxRecord& r);
  /// {"backend", "rules": [{id, direction, packets, bytes}], ...} for `nexus netpolicy stats`.
  Result<Json> stats(const SandboxRecord& r) const;
  /// The egress gateway, when it runs (for /v1/egress/*); its CA goes into sandboxes.
  net::egress::Gateway* gateway() const { return gateway_.get(); }
  net::egress::JsonlAuditLog* audit_log() const { return audit_.get(); }
  /// Replaces the gateway's global policy and keeps it in <root>/egress/policy.json.
  Result<void> set_global_policy(const net::egress::GlobalPolicy& policy);
  /// For GET /v1/host: {"backend", "reason", "pool", "pool6", "firewall_table", "dns": {"running", "port"}}.
  Json report() const;
  /// The DNS forwarder's counters (total and per sandbox); null when it is not running.
  Json dns_stats() const;

  /// The netns path and addresses of a sandbox with a network (empty path without one).
  std::string netns_path(const std::string& id) const;
  Result<net::SandboxAddresses> addresses(const SandboxRecord& r) const;

 private:
  struct Entry {
    net::SandboxNetwork network;
    std::unique_ptr<net::PolicyBackend> policy;
    NetworkSettings settings;
  };
  /// Tells the egress gateway the sandbox's address, rules, domains and header rules.
  void serve_egress(const std::string& id, const net::SandboxNetwork& n, const NetworkSettings& s);
  /// Registers the sandbox's addresses with the DNS forwarder.
  void serve_dns(const std::string& id, const net::SandboxNetwork& n);
  Result<std::unique_ptr<net::PolicyBackend>> attach_policy(const net::SandboxNetwork& n, const net::RuleSet& rules,
                                                           bool take_over);

  const DaemonConfig& config_;
  std::optional<net::AddressPool> pool_;
  std::string pool6_;  ///< the IPv6 pool in use ("" without), "auto" resolved
  std::optional<net::nft::HostFirewall> firewall_;
  std::unique_ptr<net::dns::Forwarder> dns_;
  std::shared_ptr<net::egress::JsonlAuditLog> audit_;
  std::unique_ptr<net::egress::Gateway> gateway_;
  PolicyBackendChoice choice_;
  std::set<int64_t> used_;
  std::map<std::string, Entry> entries_;
};

}  // namespace nexus::daemon
