// SPDX-License-Identifier: Apache-2.0
#include "daemon/network_settings.hpp"

#include <fmt/format.h>

#include "net/egress/domain.hpp"
#include "net/egress/global_policy.hpp"
#include "net/egress/inject.hpp"

namespace nexus::daemon {
namespace {

constexpr size_t kMaxOutEntries = 256;

}  // namespace

Result<std::vector<std::string>> string_list(const Json& j, std::string_view field) {
  std::vector<std::string> out;
  if (j.is_null()) return out;
  if (!j.is_array()) return fail(Errc::invalid_argument, fmt::format("'{}' must be an array of strings", field));
  for (size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_string())
      return fail(Errc::invalid_argument, fmt::format("'{}[{}]' must be a string", field, i));
    out.push_back(j[i].get<std::string>());
  }
  return out;
}

namespace {

Result<std::string> check_domain(const std::string& text, std::string_view field, size_t i) {
  auto p = net::egress::DomainPattern::parse(text);
  if (!p) return fail(std::move(p.error()).wrap(fmt::format("{}[{}]", field, i)));
  return p->to_string();
}

// E2B's header transforms, checked by the gateway's own parser (header names, values without
// CR/LF); the JSON is kept as given.
Result<void> check_inject(const Json& rules) {
  auto r = net::egress::inject_rules_from_e2b(rules);
  if (!r) return fail(r.error());
  return {};
}

net::Rule system_rule(std::string id, const std::string& cidr, net::Protocol proto, uint16_t lo, uint16_t hi) {
  net::Rule r;
  r.id = std::move(id);
  r.direction = net::Direction::egress;
  r.cidr = *net::Cidr::parse(cidr);
  r.protocol = proto;
  r.ports = net::PortRange{lo, hi};
  r.action = net::Action::allow;
  r.priority = kSystemPriority;
  return r;
}

}  // namespace

Result<NetworkSettings> settings_from_json(const Json& j) {
  NetworkSettings s;
  if (j.is_null()) return s;
  if (!j.is_object()) return fail(Errc::invalid_argument, "network settings must be an object");
  for (auto& [k, v] : j.items()) {
    if (k == "enabled" && v.is_boolean()) s.enabled = v.get<bool>();
    else if (k == "default_deny" && v.is_boolean()) s.default_deny = v.get<bool>();
    else if (k == "allow_public_traffic" && v.is_boolean()) s.allow_public_traffic = v.get<bool>();
    else if (k == "rules" && v.is_array()) {
      for (size_t i = 0; i < v.size(); ++i) {
        auto r = net::rule_from_json(v[i], i + 1);
        if (!r) return fail(std::move(r.error()).wrap(fmt::format("rules[{}]", i)));
        s.rules.push_back(std::move(*r));
      }
    } else if (k == "allow_domains" || k == "deny_domains") {
      auto list = string_list(v, k);
      if (!list) return fail(list.error());
      for (size_t i = 0; i < list->size(); ++i) {
        auto d = check_domain((*list)[i], k, i);
        if (!d) return fail(d.error());
        (k == "allow_domains" ? s.allow_domains : s.deny_domains).push_back(*d);
      }
    } else if (k == "inject") {
      NEXUS_TRY(check_inject(v));
      s.inject = v.is_null() ? Json::object() : v;
    } else {
      return fail(Errc::invalid_argument, fmt::format("network: unknown or mistyped field '{}'", k));
    }
  }
  if (s.rules.size() > net::kMaxRules)
    return fail(Errc::too_large, fmt::format("{} rules given, at most {}", s.rules.size(), net::kMaxRules));
  return s;
}

Json to_json(const NetworkSettings& s) {
  Json rules = Json::array();
  for (const auto& r : s.rules) rules.push_back(net::to_json(r));
  return {{"enabled", s.enabled},           {"rules", rules},
          {"allow_domains", s.allow_domains}, {"deny_domains", s.deny_domains},
          {"default_deny", s.default_deny}, {"allow_public_traffic", s.allow_public_traffic},
          {"inject", s.inject}};
}

Result<void> add_out_entries(NetworkSettings& s, const std::vector<std::string>& allow,
                             const std::vector<std::string>& deny, std::string_view allow_field,
                             std::string_view deny_field) {
  for (const auto& [list, field] : {std::pair{&allow, allow_field}, std::pair{&deny, deny_field}})
    if (list->size() > kMaxOutEntries)
      return fail(Errc::too_large, fmt::format("'{}' has {} entries, at most {}", field, list->size(), kMaxOutEntries));
  auto split = net::egress::split_e2b_network(allow, deny, allow_field, deny_field);
  if (!split) return fail(split.error());
  auto add = [&s](const std::vector<net::Cidr>& cidrs, net::Action action) {
    bool is_allow = action == net::Action::allow;
    for (const auto& c : cidrs) {
      net::Rule r;
      r.id = fmt::format("{}-{}", is_allow ? "allow-out" : "deny-out", s.rules.size() + 1);
      r.direction = net::Direction::egress;
      r.cidr = c;
      r.action = action;
      r.priority = is_allow ? kOutAllowPriority : kOutDenyPriority;
      s.rules.push_back(std::move(r));
    }
  };
  add(split->cidrs_deny, net::Action::deny);
  add(split->cidrs_allow, net::Action::allow);
  for (auto& d : split->domains.allow.to_strings()) s.allow_domains.push_back(std::move(d));
  for (auto& d : split->domains.deny.to_strings()) s.deny_domains.push_back(std::move(d));
  return {};
}

Result<NetworkSettings> settings_from_e2b(const Json& network, bool allow_internet_access) {
  NetworkSettings s;
  if (!allow_internet_access) {
    // E2B's allow_internet_access=false: nothing out, and no DNS answers to go with it.
    net::Rule r;
    r.id = "no-internet";
    r.cidr = *net::Cidr::parse("0.0.0.0/0");
    r.action = net::Action::deny;
    s.rules.push_back(r);
    r.id = "no-internet-v6";
    r.cidr = *net::Cidr::parse("::/0");
    s.rules.push_back(std::move(r));
  }
  if (network.is_null()) return s;
  if (!network.is_object()) return fail(Errc::invalid_argument, "'network' must be an object");
  std::vector<std::string> out[2];  // allowOut, denyOut
  for (auto& [k, v] : network.items()) {
    if (v.is_null()) continue;
    if (k == "allowOut" || k == "denyOut") {
      auto list = string_list(v, k);
      if (!list) return fail(list.error());
      out[k == "allowOut" ? 0 : 1] = std::move(*list);
    } else if (k == "allowPublicTraffic") {
      if (!v.is_boolean()) return fail(Errc::invalid_argument, "'network.allowPublicTraffic' must be a boolean");
      s.allow_public_traffic = v.get<bool>();
    } else if (k == "rules") {
      NEXUS_TRY(check_inject(v));
      s.inject = v;
    } else {
      return fail(Errc::invalid_argument,
                  fmt::format("'network.{}' is not supported by Nexus (allowOut, denyOut, allowPublicTraffic and rules are)", k));
    }
  }
  NEXUS_TRY(add_out_entries(s, out[0], out[1], "allowOut", "denyOut"));
  return s;
}

net::RuleSet user_ruleset(const NetworkSettings& s) {
  net::RuleSet set;
  set.rules = s.rules;
  set.default_deny = s.default_deny;
  return set;
}

net::RuleSet ruleset(const NetworkSettings& s, const net::SandboxAddresses& a) {
  net::RuleSet set = user_ruleset(s);
  std::vector<net::Rule> system;
  system.push_back(system_rule("nexus:dns-udp", a.host4, net::Protocol::udp, 53, 53));
  system.push_back(system_rule("nexus:dns-tcp", a.host4, net::Protocol::tcp, 53, 53));
  system.push_back(system_rule("nexus:http", "0.0.0.0/0", net::Protocol::tcp, 80, 80));
  system.push_back(system_rule("nexus:https", "0.0.0.0/0", net::Protocol::tcp, 443, 443));
  if (a.has_ipv6()) {
    system.push_back(system_rule("nexus:dns6-udp", a.host6, net::Protocol::udp, 53, 53));
    system.push_back(system_rule("nexus:dns6-tcp", a.host6, net::Protocol::tcp, 53, 53));
    system.push_back(system_rule("nexus:http6", "::/0", net::Protocol::tcp, 80, 80));
    system.push_back(system_rule("nexus:https6", "::/0", net::Protocol::tcp, 443, 443));
  }
  // Inbound through nexusd (E2B's sandbox ports): connections from the host side of the
  // veth. The host firewall lets only root (nexusd) open them.
  net::Rule in = system_rule("nexus:inbound", a.host4, net::Protocol::tcp, 0, 65535);
  in.direction = net::Direction::ingress;
  in.ports = net::PortRange{};
  system.push_back(in);
  set.rules.insert(set.rules.begin(), system.begin(), system.end());
  return set;
}

}  // namespace nexus::daemon
