// SPDX-License-Identifier: Apache-2.0
#include "daemon/network_api.hpp"

#include <fmt/format.h>

#include "daemon/api_util.hpp"

namespace nexus::daemon {
namespace {

// Rule ids nexusd uses itself: a user rule with one would hide or fake them.
Result<void> check_user_rule(const net::Rule& r) {
  for (std::string_view reserved : {"nexus:", "default:"})
    if (r.id.rfind(reserved, 0) == 0)
      return fail(Errc::invalid_argument, fmt::format("rule id '{}': ids starting with '{}' are nexusd's own", r.id, reserved));
  return {};
}

Json policy_json(SandboxManager& mgr, const std::string& id, const NetworkSettings& s) {
  Json rules = Json::array();
  for (const auto& r : s.rules) rules.push_back(net::to_json(r));
  Json j = to_json(s);
  j["rules"] = rules;
  j["backend"] = mgr.networking().backend().name;
  if (auto rec = mgr.get(id); rec) {
    if (auto a = mgr.networking().addresses(*rec); a) {
      j["address"] = a->sandbox4;
      j["gateway"] = a->host4;
      if (a->has_ipv6()) {
        j["address6"] = a->sandbox6;
        j["gateway6"] = a->host6;
      }
      j["interface"] = net::host_ifname(id);
      // What the backend enforces, in decision order (nexusd's steering rules and the defaults included).
      if (auto eff = net::effective_rules(ruleset(s, *a)); eff) {
        Json e = Json::array();
        for (const auto& r : *eff) e.push_back(net::to_json(r));
        j["effective"] = e;
      }
    }
  }
  return j;
}

void reply_settings(SandboxManager& mgr, const std::string& id, const std::shared_ptr<http::Exchange>& ex,
                    int status) {
  auto s = mgr.network_settings(id);
  if (!s) return reply_error(ex, s.error());
  reply_json(ex, status, policy_json(mgr, id, *s));
}

}  // namespace

Result<NetworkSettings> parse_network_field(const Json& body) {
  NetworkSettings s;
  auto it = body.find("network");
  if (it == body.end() || it->is_null()) return s;
  const Json& n = *it;
  if (n.is_string()) {
    if (n.get<std::string>() == "none") {
      s.enabled = false;
      return s;
    }
    return fail(Errc::invalid_argument, fmt::format("'network' must be \"none\" or an object, not \"{}\"", n.get<std::string>()));
  }
  if (!n.is_object()) return fail(Errc::invalid_argument, "'network' must be \"none\" or an object");
  for (auto& [k, v] : n.items()) {
    if (k == "allow_out" || k == "deny_out" || k == "rules" || k == "default_deny" || k == "allow_public_traffic")
      continue;
    return fail(Errc::invalid_argument, fmt::format("'network.{}' is not a field (allow_out, deny_out, rules, "
                                                    "default_deny, allow_public_traffic)", k));
  }
  if (auto r = n.find("rules"); r != n.end() && !r->is_null()) {
    if (!r->is_array()) return fail(Errc::invalid_argument, "'network.rules' must be an array of rules");
    if (r->size() > net::kMaxRules)
      return fail(Errc::too_large, fmt::format("'network.rules' has {} rules, at most {}", r->size(), net::kMaxRules));
    for (size_t i = 0; i < r->size(); ++i) {
      auto rule = net::rule_from_json((*r)[i], i + 1);
      if (!rule) return fail(std::move(rule.error()).wrap(fmt::format("network.rules[{}]", i)));
      NEXUS_TRY(check_user_rule(*rule));
      s.rules.push_back(std::move(*rule));
    }
  }
  auto allow = string_list(n.value("allow_out", Json()), "network.allow_out");
  if (!allow) return fail(allow.error());
  auto deny = string_list(n.value("deny_out", Json()), "network.deny_out");
  if (!deny) return fail(deny.error());
  NEXUS_TRY(add_out_entries(s, *allow, *deny, "network.allow_out", "network.deny_out"));
  for (const char* key : {"default_deny", "allow_public_traffic"}) {
    if (auto b = n.find(key); b != n.end() && !b->is_null()) {
      if (!b->is_boolean()) return fail(Errc::invalid_argument, fmt::format("'network.{}' must be a boolean", key));
      (std::string_view(key) == "default_deny" ? s.default_deny : s.allow_public_traffic) = b->get<bool>();
    }
  }
  // Everything together must compile (ids unique, limits).
  if (auto eff = net::effective_rules(user_ruleset(s)); !eff) return fail(std::move(eff.error()).wrap("network"));
  return s;
}

void handle_netpolicy(SandboxManager& mgr, const std::string& id, const std::vector<std::string>& parts,
                      std::shared_ptr<http::Exchange> ex) {
  const std::string& method = ex->request().method;
  auto not_allowed = [&] {
    reply_error(ex, 405, "method_not_allowed", fmt::format("method {} not allowed on {}", method, ex->request().path));
  };
  if (parts.size() == 5) {
    if (method == "GET") return reply_settings(mgr, id, ex, 200);
    if (method != "PUT") return not_allowed();
    return read_json_body(ex, [&mgr, id, ex](Json body) {
      auto s = parse_network_field(Json{{"network", body}});
      if (!s) return reply_error(ex, s.error());
      if (!s->enabled) return reply_error(ex, 400, "invalid_argument", "a running sandbox's network cannot be removed");
      if (auto r = mgr.set_network(id, std::move(*s)); !r) return reply_error(ex, r.error());
      reply_settings(mgr, id, ex, 200);
    });
  }
  const std::string& sub = parts[5];
  if (sub == "stats" && parts.size() == 6) {
    if (method != "GET") return not_allowed();
    auto st = mgr.network_stats(id);
    if (!st) return reply_error(ex, st.error());
    return reply_json(ex, 200, *st);
  }
  if (sub != "rules" || parts.size() > 7)
    return reply_error(ex, 404, "not_found", fmt::format("no such endpoint '{}'", ex->request().path));
  if (parts.size() == 6) {
    if (method == "GET") {
      auto s = mgr.network_settings(id);
      if (!s) return reply_error(ex, s.error());
      return reply_json(ex, 200, Json{{"rules", policy_json(mgr, id, *s)["rules"]}});
    }
    if (method != "POST") return not_allowed();
    return read_json_body(ex, [&mgr, id, ex](Json body) {
      auto s = mgr.network_settings(id);
      if (!s) return reply_error(ex, s.error());
      auto rule = net::rule_from_json(body, s->rules.size() + 1);
      if (!rule) return reply_error(ex, rule.error());
      if (auto ok = check_user_rule(*rule); !ok) return reply_error(ex, ok.error());
      if (!body.contains("id")) {
        // "rule-N" by position could repeat after a removal: take the first free number.
        for (size_t n = s->rules.size() + 1;; ++n) {
          std::string candidate = fmt::format("rule-{}", n);
          if (std::none_of(s->rules.begin(), s->rules.end(), [&](const net::Rule& r) { return r.id == candidate; })) {
            rule->id = candidate;
            break;
          }
        }
      }
      for (const auto& r : s->rules)
        if (r.id == rule->id)
          return reply_error(ex, 409, "already_exists", fmt::format("sandbox '{}' has a rule '{}' already", id, rule->id));
      s->rules.push_back(*rule);
      if (auto eff = net::effective_rules(user_ruleset(*s)); !eff) return reply_error(ex, eff.error());
      if (auto r = mgr.set_network(id, std::move(*s)); !r) return reply_error(ex, r.error());
      reply_json(ex, 201, net::to_json(*rule));
    });
  }
  const std::string& rule_id = parts[6];
  if (method != "DELETE") return not_allowed();
  auto s = mgr.network_settings(id);
  if (!s) return reply_error(ex, s.error());
  auto it = std::find_if(s->rules.begin(), s->rules.end(), [&](const net::Rule& r) { return r.id == rule_id; });
  if (it == s->rules.end())
    return reply_error(ex, 404, "not_found", fmt::format("sandbox '{}' has no rule '{}'", id, rule_id));
  Json removed = net::to_json(*it);
  s->rules.erase(it);
  if (auto r = mgr.set_network(id, std::move(*s)); !r) return reply_error(ex, r.error());
  reply_json(ex, 200, Json{{"removed", removed}});
}

}  // namespace nexus::daemon
