// SPDX-License-Identifier: Apache-2.0
// Which sandbox a connection comes from, and what that sandbox may reach: the directory
// nexusd keeps up to date (add, replace, remove a sandbox by its addresses) and the decision
// over one destination address (the private-address check and the CIDR rules).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "net/egress/address.hpp"
#include "net/egress/domain.hpp"
#include "net/egress/inject.hpp"
#include "net/policy.hpp"
#include "net/policy_compile.hpp"

namespace nexus::net::egress {

/// What nexusd tells the gateway about one sandbox.
struct SandboxPolicy {
  std::string id;
  std::string ipv4;  ///< the sandbox's address ("10.88.0.2"); empty when none
  std::string ipv6;  ///< "fd4e:7800::2"; empty when none
  /// The sandbox's L3/L4 rules as the user gave them (their egress CIDR rules apply here
  /// too), without the allows nexusd adds for the TC program (DNS, tcp 80/443 to anywhere):
  /// an allow for tcp 80 to 0.0.0.0/0 would open every private address here.
  RuleSet rules;
  DomainLayer domains;              ///< E2B allowOut/denyOut domains
  std::vector<InjectRule> inject;   ///< E2B network.rules (literal header values)
};

/// A sandbox as the gateway uses it: the policy and its rules compiled.
struct SandboxState {
  SandboxPolicy policy;
  CompiledPolicy cidr;           ///< the RuleSet as given (what the TC program enforces)
  CompiledPolicy private_check;  ///< the default-deny set and the user's egress allow rules
};

struct AddressVerdict {
  bool allowed = false;
  std::string reason;
};

/// Whether the gateway may connect to `dst` for this sandbox. The private-address check
/// comes first and always applies (net::default_deny_rules(); a user allow rule with a lower
/// priority number opens a range, as in the TC program); then, unless a domain rule allowed
/// the host (`domain_allowed`), the egress CIDR rules for tcp to dst's port.
AddressVerdict check_address(const SandboxState& sb, bool domain_allowed, const Endpoint& dst);

/// Thread-safe: nexusd's thread writes, the gateway thread reads. Readers get a snapshot
/// (shared_ptr) that stays valid while a replace happens.
class SandboxDirectory {
 public:
  /// Adds or replaces (by id) a sandbox. Errc::invalid_argument for a bad address or rule
  /// set, Errc::already_exists when another sandbox has the address.
  Result<void> put(SandboxPolicy policy);
  bool remove(const std::string& id);
  std::shared_ptr<const SandboxState> find(const Endpoint& peer) const;
  std::shared_ptr<const SandboxState> find_id(const std::string& id) const;
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const SandboxState>> by_id_;
  std::map<std::string, std::string> by_ip_;  // normalized ip text -> id
};

}  // namespace nexus::net::egress
