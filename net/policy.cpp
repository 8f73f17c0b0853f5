// SPDX-License-Identifier: Apache-2.0
#include "net/policy.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <numeric>
#include <set>

#include <fmt/format.h>

#include "common/strings.hpp"

namespace nexus::net {
namespace {

Error bad(std::string_view field, std::string_view value, std::string_view why) {
  return Error(Errc::invalid_argument, fmt::format("{} '{}': {}", field, value, why));
}

std::optional<uint32_t> parse_uint(std::string_view s, uint32_t max) {
  if (s.empty() || s.size() > 6) return std::nullopt;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v > max) return std::nullopt;
  return v;
}

Result<Direction> parse_direction(std::string_view s) {
  if (s == "egress" || s == "out") return Direction::egress;
  if (s == "ingress" || s == "in") return Direction::ingress;
  return fail(bad("direction", s, "expected ingress or egress"));
}

Result<Protocol> parse_protocol(std::string_view s) {
  if (s == "tcp") return Protocol::tcp;
  if (s == "udp") return Protocol::udp;
  if (s == "icmp" || s == "icmpv6") return Protocol::icmp;
  if (s == "any" || s == "all" || s.empty()) return Protocol::any;
  return fail(bad("protocol", s, "expected tcp, udp, icmp or any"));
}

Result<Action> parse_action(std::string_view s) {
  if (s == "allow" || s == "accept") return Action::allow;
  if (s == "deny" || s == "drop") return Action::deny;
  return fail(bad("action", s, "expected allow or deny"));
}

Result<uint32_t> parse_priority(std::string_view s) {
  auto v = parse_uint(s, kMaxPriority);
  if (!v) return fail(bad("priority", s, fmt::format("expected a number 0-{}", kMaxPriority)));
  return *v;
}

// The mask of byte `i` of an address under a prefix of `len` bits.
uint8_t prefix_mask_byte(int len, size_t i) {
  const int bit = static_cast<int>(i) * 8;
  if (bit >= len) return 0;
  if (bit + 8 <= len) return 0xff;
  return static_cast<uint8_t>(0xff << (8 - (len - bit)));
}

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdLength) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == ':' || c == '-';
  });
}

// One parsed field into `r`; `seen` catches a key given twice.
Result<void> set_field(Rule& r, std::string_view key, std::string_view value,
                       std::set<std::string>& seen) {
  if (key == "proto") key = "protocol";
  if (key == "port") key = "ports";
  if (key == "prio") key = "priority";
  if (!seen.insert(std::string(key)).second)
    return fail(bad("rule", key, "field given twice"));
  if (key == "id") {
    r.id = std::string(value);
  } else if (key == "direction") {
    auto d = parse_direction(value);
    if (!d) return fail(d.error());
    r.direction = *d;
  } else if (key == "cidr") {
    auto c = Cidr::parse(value);
    if (!c) return fail(c.error());
    r.cidr = *c;
  } else if (key == "protocol") {
    auto p = parse_protocol(value);
    if (!p) return fail(p.error());
    r.protocol = *p;
  } else if (key == "ports") {
    auto p = PortRange::parse(value);
    if (!p) return fail(p.error());
    r.ports = *p;
  } else if (key == "action") {
    auto a = parse_action(value);
    if (!a) return fail(a.error());
    r.action = *a;
  } else if (key == "priority") {
    auto p = parse_priority(value);
    if (!p) return fail(p.error());
    r.priority = *p;
  } else {
    return fail(bad("rule field", key,
                    "unknown (expected id, direction, cidr, protocol, ports, action, priority)"));
  }
  return {};
}

Result<Rule> finish(Rule r, const std::set<std::string>& seen, size_t index) {
  for (const char* required : {"direction", "cidr", "action"}) {
    if (!seen.count(required))
      return fail(Errc::invalid_argument, fmt::format("rule: '{}' is required", required));
  }
  if (r.id.empty()) r.id = fmt::format("rule-{}", index);
  NEXUS_TRY(validate(r));
  return r;
}

Rule default_rule(std::string id, std::string_view cidr) {
  Rule r;
  r.id = std::move(id);
  r.direction = Direction::egress;
  r.cidr = *Cidr::parse(cidr);
  r.protocol = Protocol::any;
  r.action = Action::deny;
  r.priority = kDefaultDenyPriority;
  return r;
}

}  // namespace

std::string_view to_string(Direction d) { return d == Direction::egress ? "egress" : "ingress"; }
std::string_view to_string(Action a) { return a == Action::allow ? "allow" : "deny"; }
std::string_view to_string(Protocol p) {
  switch (p) {
    case Protocol::tcp: return "tcp";
    case Protocol::udp: return "udp";
    case Protocol::icmp: return "icmp";
    case Protocol::any: break;
  }
  return "any";
}

Result<Cidr> Cidr::parse(std::string_view text) {
  std::string s(trim(text));
  if (s.empty()) return fail(bad("cidr", text, "empty"));
  std::string addr = s, len;
  if (auto slash = s.find('/'); slash != std::string::npos) {
    addr = s.substr(0, slash);
    len = s.substr(slash + 1);
  }
  Cidr c;
  if (::inet_pton(AF_INET, addr.c_str(), c.addr.data()) == 1) {
    c.family = 4;
  } else if (::inet_pton(AF_INET6, addr.c_str(), c.addr.data()) == 1) {
    c.family = 6;
  } else {
    return fail(bad("cidr", text, "not an IPv4 or IPv6 address"));
  }
  if (s.find('/') == std::string::npos) {
    c.prefix_len = static_cast<uint8_t>(c.max_len());
    return c;
  }
  auto n = parse_uint(len, static_cast<uint32_t>(c.max_len()));
  if (!n)
    return fail(bad("cidr", text, fmt::format("prefix length must be 0-{}", c.max_len())));
  c.prefix_len = static_cast<uint8_t>(*n);
  Cidr network = c;
  for (size_t i = 0; i < 16; ++i) network.addr[i] &= prefix_mask_byte(c.prefix_len, i);
  if (network.addr != c.addr)
    return fail(bad("cidr", text, fmt::format("host bits set; the network is {}", network.to_string())));
  return c;
}

std::string Cidr::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(family == 4 ? AF_INET : AF_INET6, addr.data(), buf, sizeof(buf));
  return fmt::format("{}/{}", buf, prefix_len);
}

bool Cidr::contains_address(int fam, const uint8_t* a) const {
  if (fam != family) return false;
  for (size_t i = 0; i * 8 < prefix_len; ++i)
    if ((a[i] & prefix_mask_byte(prefix_len, i)) != addr[i]) return false;
  return true;
}

bool Cidr::contains(const Cidr& other) const {
  return other.family == family && other.prefix_len >= prefix_len &&
         contains_address(other.family, other.addr.data());
}

Result<PortRange> PortRange::parse(std::string_view text) {
  std::string_view s = trim(text);
  if (s.empty() || s == "any") return PortRange{};
  std::string_view lo = s, hi = s;
  if (auto dash = s.find('-'); dash != std::string_view::npos) {
    lo = s.substr(0, dash);
    hi = s.substr(dash + 1);
  }
  auto l = parse_uint(lo, 65535), h = parse_uint(hi, 65535);
  if (!l || !h) return fail(bad("ports", text, "expected a port or a range like 8000-8100"));
  if (*l == 0 || *h == 0) return fail(bad("ports", text, "ports are 1-65535"));
  if (*l > *h) return fail(bad("ports", text, "range runs backwards"));
  return PortRange{static_cast<uint16_t>(*l), static_cast<uint16_t>(*h)};
}

std::string PortRange::to_string() const {
  if (is_any()) return "any";
  if (lo == hi) return std::to_string(lo);
  return fmt::format("{}-{}", lo, hi);
}

Result<void> validate(const Rule& r) {
  if (!valid_id(r.id))
    return fail(bad("id", r.id, "expected 1-64 characters of A-Z a-z 0-9 . _ : -"));
  if (r.priority > kMaxPriority)
    return fail(bad("priority", std::to_string(r.priority),
                    fmt::format("expected a number 0-{}", kMaxPriority)));
  if (r.cidr.family != 4 && r.cidr.family != 6)
    return fail(bad("cidr", std::to_string(r.cidr.family), "unknown address family"));
  if (r.cidr.prefix_len > r.cidr.max_len())
    return fail(bad("cidr", r.cidr.to_string(), "prefix too long"));
  if (!r.ports.is_any()) {
    if (r.protocol != Protocol::tcp && r.protocol != Protocol::udp)
      return fail(bad("ports", r.ports.to_string(),
                      fmt::format("ports need protocol tcp or udp, not {}", to_string(r.protocol))));
    if (r.ports.lo == 0 || r.ports.lo > r.ports.hi)
      return fail(bad("ports", r.ports.to_string(), "not a valid range"));
  }
  return {};
}

Result<Rule> rule_from_json(const Json& j, size_t index) {
  if (!j.is_object()) return fail(Errc::invalid_argument, "rule: expected a JSON object");
  Rule r;
  std::set<std::string> seen;
  for (const auto& [key, value] : j.items()) {
    std::string text;
    if (value.is_string()) {
      text = value.get<std::string>();
    } else if (value.is_number_unsigned() && (key == "ports" || key == "port" ||
                                              key == "priority" || key == "prio")) {
      text = std::to_string(value.get<uint64_t>());
    } else {
      return fail(bad("rule field", key, fmt::format("unexpected value {}", dump_json(value))));
    }
    NEXUS_TRY(set_field(r, key, text, seen));
  }
  return finish(std::move(r), seen, index);
}

Json to_json(const Rule& r) {
  Json j = {{"id", r.id},
            {"direction", to_string(r.direction)},
            {"cidr", r.cidr.to_string()},
            {"protocol", to_string(r.protocol)},
            {"action", to_string(r.action)},
            {"priority", r.priority}};
  if (!r.ports.is_any()) j["ports"] = r.ports.to_string();
  return j;
}

Result<Rule> parse_rule_text(std::string_view text, size_t index) {
  std::vector<std::string> words;
  for (auto& w : split(text, ' '))
    if (!trim(w).empty()) words.emplace_back(trim(w));
  Rule r;
  std::set<std::string> seen;
  for (size_t i = 0; i < words.size(); ++i) {
    std::string_view w = words[i];
    std::string key, value;
    if (starts_with(w, "--")) {
      w.remove_prefix(2);
      if (auto eq = w.find('='); eq != std::string_view::npos) {
        key = w.substr(0, eq);
        value = w.substr(eq + 1);
      } else {
        if (i + 1 >= words.size()) return fail(bad("rule", words[i], "needs a value"));
        key = w;
        value = words[++i];
      }
    } else if (auto eq = w.find('='); eq != std::string_view::npos) {
      key = w.substr(0, eq);
      value = w.substr(eq + 1);
    } else {
      return fail(bad("rule", w, "expected --key value or key=value"));
    }
    NEXUS_TRY(set_field(r, key, value, seen));
  }
  return finish(std::move(r), seen, index);
}

std::string to_text(const Rule& r) {
  std::string s = fmt::format("--id {} --direction {} --cidr {} --proto {}", r.id,
                              to_string(r.direction), r.cidr.to_string(), to_string(r.protocol));
  if (!r.ports.is_any()) s += fmt::format(" --ports {}", r.ports.to_string());
  s += fmt::format(" --action {} --priority {}", to_string(r.action), r.priority);
  return s;
}

const std::vector<Rule>& default_deny_rules() {
  static const std::vector<Rule> rules = {
      default_rule("default:this-network", "0.0.0.0/8"),
      default_rule("default:loopback", "127.0.0.0/8"),
      default_rule("default:private-10", "10.0.0.0/8"),
      default_rule("default:private-172", "172.16.0.0/12"),
      default_rule("default:private-192", "192.168.0.0/16"),
      default_rule("default:cgnat", "100.64.0.0/10"),
      default_rule("default:link-local", "169.254.0.0/16"),
      default_rule("default:multicast", "224.0.0.0/4"),
      default_rule("default:reserved", "240.0.0.0/4"),
      default_rule("default:loopback6", "::1/128"),
      default_rule("default:unspecified6", "::/128"),
      default_rule("default:v4-mapped6", "::ffff:0:0/96"),
      default_rule("default:ula6", "fc00::/7"),
      default_rule("default:link-local6", "fe80::/10"),
      default_rule("default:multicast6", "ff00::/8"),
  };
  return rules;
}

Result<RuleSet> ruleset_from_json(const Json& j) {
  if (!j.is_object()) return fail(Errc::invalid_argument, "rule set: expected a JSON object");
  RuleSet set;
  for (const auto& [key, value] : j.items()) {
    if (key == "rules") {
      if (!value.is_array()) return fail(Errc::invalid_argument, "rules: expected an array");
      size_t i = 0;
      for (const auto& item : value) {
        auto r = rule_from_json(item, ++i);
        if (!r) return fail(std::move(r.error()).wrap(fmt::format("rules[{}]", i - 1)));
        set.rules.push_back(std::move(*r));
      }
    } else if (key == "default_deny") {
      if (!value.is_boolean()) return fail(Errc::invalid_argument, "default_deny: expected true or false");
      set.default_deny = value.get<bool>();
    } else if (key == "egress_default" || key == "ingress_default") {
      if (!value.is_string()) return fail(bad(key, dump_json(value), "expected allow or deny"));
      auto a = parse_action(value.get<std::string>());
      if (!a) return fail(bad(key, value.get<std::string>(), "expected allow or deny"));
      (key == "egress_default" ? set.egress_default : set.ingress_default) = *a;
    } else {
      return fail(bad("rule set field", key,
                      "unknown (expected rules, default_deny, egress_default, ingress_default)"));
    }
  }
  return set;
}

Json to_json(const RuleSet& set) {
  Json rules = Json::array();
  for (const auto& r : set.rules) rules.push_back(to_json(r));
  return {{"rules", rules},
          {"default_deny", set.default_deny},
          {"egress_default", to_string(set.egress_default)},
          {"ingress_default", to_string(set.ingress_default)}};
}

Result<std::vector<Rule>> effective_rules(const RuleSet& set) {
  std::vector<Rule> all = set.rules;
  if (set.default_deny) all.insert(all.end(), default_deny_rules().begin(), default_deny_rules().end());
  if (all.size() > kMaxRules)
    return fail(Errc::too_large, fmt::format("{} rules (with the defaults); at most {}", all.size(),
                                             kMaxRules));
  std::set<std::string> ids;
  for (const auto& r : all) {
    NEXUS_TRY(validate(r).map_error([&](Error e) { return std::move(e).wrap(fmt::format("rule '{}'", r.id)); }));
    if (!ids.insert(r.id).second) return fail(bad("id", r.id, "used by two rules"));
  }
  std::stable_sort(all.begin(), all.end(), [](const Rule& a, const Rule& b) {
    if (a.priority != b.priority) return a.priority < b.priority;
    return a.action == Action::deny && b.action == Action::allow;
  });
  return all;
}

}  // namespace nexus::net
