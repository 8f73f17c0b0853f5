// SPDX-License-Identifier: Apache-2.0
#include "net/egress/directory.hpp"

#include <fmt/format.h>

namespace nexus::net::egress {
namespace {

PacketView tcp_packet(const Endpoint& dst) {
  PacketView p;
  p.direction = Direction::egress;
  p.family = dst.family;
  p.remote = dst.addr;
  p.ip_proto = ip_protocol(Protocol::tcp, dst.family);
  p.dport = dst.port;
  return p;
}

}  // namespace

AddressVerdict check_address(const SandboxState& sb, bool domain_allowed, const Endpoint& dst_in) {
  const Endpoint dst = dst_in.unmapped();
  const PacketView p = tcp_packet(dst);
  Verdict priv = evaluate_linear(sb.private_check, p);
  if (priv.action == Action::deny) {
    std::string id = priv.rule >= 0 ? sb.private_check.rules[static_cast<size_t>(priv.rule)].id : "default";
    return {false, fmt::format("{} is a private or reserved address ({})", dst.ip(), id)};
  }
  if (domain_allowed) return {true, ""};
  Verdict v = evaluate_linear(sb.cidr, p);
  if (v.action == Action::deny) {
    std::string id = v.rule >= 0 ? "rule " + sb.cidr.rules[static_cast<size_t>(v.rule)].id : "the egress default";
    return {false, fmt::format("{} denies {}", id, dst.to_string())};
  }
  return {true, ""};
}

Result<void> SandboxDirectory::put(SandboxPolicy policy) {
  if (policy.id.empty()) return fail(Errc::invalid_argument, "egress sandbox: the id is empty");
  std::vector<std::string> ips;
  for (const auto& [text, fam] : {std::pair{policy.ipv4, 4}, std::pair{policy.ipv6, 6}}) {
    if (text.empty()) continue;
    auto e = Endpoint::parse_ip(text);
    if (!e || e->family != fam)
      return fail(Errc::invalid_argument, fmt::format("egress sandbox {}: '{}' is not an IPv{} address", policy.id, text, fam));
    ips.push_back(e->ip());
  }
  if (ips.empty()) return fail(Errc::invalid_argument, fmt::format("egress sandbox {}: no address", policy.id));
  auto state = std::make_shared<SandboxState>();
  auto cidr = compile(policy.rules);
  if (!cidr) return fail(std::move(cidr.error()).wrap(fmt::format("egress sandbox {}", policy.id)));
  RuleSet priv;
  for (const auto& r : policy.rules.rules)
    if (r.direction == Direction::egress && r.action == Action::allow) priv.rules.push_back(r);
  priv.default_deny = true;
  priv.egress_default = Action::allow;
  auto pc = compile(priv);
  if (!pc) return fail(std::move(pc.error()).wrap(fmt::format("egress sandbox {}", policy.id)));
  state->cidr = std::move(*cidr);
  state->private_check = std::move(*pc);
  state->policy = std::move(policy);
  const std::string id = state->policy.id;

  std::lock_guard lock(mu_);
  for (const auto& ip : ips) {
    auto it = by_ip_.find(ip);
    if (it != by_ip_.end() && it->second != id)
      return fail(Errc::already_exists, fmt::format("egress sandbox {}: address {} belongs to sandbox {}", id, ip, it->second));
  }
  std::erase_if(by_ip_, [&](const auto& kv) { return kv.second == id; });
  for (const auto& ip : ips) by_ip_[ip] = id;
  by_id_[id] = std::move(state);
  return {};
}

bool SandboxDirectory::remove(const std::string& id) {
  std::lock_guard lock(mu_);
  std::erase_if(by_ip_, [&](const auto& kv) { return kv.second == id; });
  return by_id_.erase(id) > 0;
}

std::shared_ptr<const SandboxState> SandboxDirectory::find(const Endpoint& peer) const {
  const std::string ip = peer.unmapped().ip();
  std::lock_guard lock(mu_);
  auto it = by_ip_.find(ip);
  if (it == by_ip_.end()) return nullptr;
  auto s = by_id_.find(it->second);
  return s == by_id_.end() ? nullptr : s->second;
}

std::shared_ptr<const SandboxState> SandboxDirectory::find_id(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto s = by_id_.find(id);
  return s == by_id_.end() ? nullptr : s->second;
}

size_t SandboxDirectory::size() const {
  std::lock_guard lock(mu_);
  return by_id_.size();
}

}  // namespace nexus::net::egress
