// SPDX-License-Identifier: Apache-2.0
#include "net/egress/global_policy.hpp"

#include <cctype>

#include <fmt/format.h>

#include "common/strings.hpp"
#include "net/policy.hpp"

namespace nexus::net::egress {
namespace {

Result<std::vector<std::string>> string_list(const Json& j, const char* field) {
  std::vector<std::string> out;
  if (!j.contains(field)) return out;
  const Json& v = j[field];
  if (!v.is_array()) return fail(Errc::invalid_argument, fmt::format("{}: must be an array of strings", field));
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string()) return fail(Errc::invalid_argument, fmt::format("{}[{}]: must be a string", field, i));
    out.push_back(v[i].get<std::string>());
  }
  return out;
}

std::vector<std::string> comma_list(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const auto& a : args)
    for (auto& w : split(a, ','))
      if (auto t = trim(w); !t.empty()) out.emplace_back(t);
  return out;
}

}  // namespace

Result<GlobalPolicy> global_policy_from_json(const Json& j) {
  if (!j.is_object()) return fail(Errc::invalid_argument, "egress policy: must be an object");
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.key() != "allow" && it.key() != "deny" && it.key() != "inject")
      return fail(Errc::invalid_argument, fmt::format("egress policy: unknown field '{}'", it.key()));
  GlobalPolicy p;
  auto allow = string_list(j, "allow");
  if (!allow) return fail(allow.error());
  auto deny = string_list(j, "deny");
  if (!deny) return fail(deny.error());
  auto a = DomainList::parse(*allow, "allow");
  if (!a) return fail(a.error());
  auto d = DomainList::parse(*deny, "deny");
  if (!d) return fail(d.error());
  p.domains = {std::move(*a), std::move(*d)};
  if (j.contains("inject")) {
    const Json& inj = j["inject"];
    if (!inj.is_array()) return fail(Errc::invalid_argument, "inject: must be an array of objects");
    if (inj.size() > kMaxInjectRules)
      return fail(Errc::too_large, fmt::format("inject: more than {} rules", kMaxInjectRules));
    for (size_t i = 0; i < inj.size(); ++i) {
      auto r = inject_rule_from_json(inj[i], fmt::format("inject[{}]", i));
      if (!r) return fail(r.error());
      p.inject.push_back(std::move(*r));
    }
  }
  return p;
}

Json to_json(const GlobalPolicy& p) {
  Json inject = Json::array();
  for (const auto& r : p.inject) inject.push_back(to_json(r));
  return Json{{"allow", p.domains.allow.to_strings()}, {"deny", p.domains.deny.to_strings()}, {"inject", inject}};
}

Result<GlobalPolicy> global_policy_from_args(const std::vector<std::string>& allow,
                                             const std::vector<std::string>& deny,
                                             const std::vector<std::string>& inject) {
  GlobalPolicy p;
  auto a = DomainList::parse(comma_list(allow), "--allow");
  if (!a) return fail(a.error());
  auto d = DomainList::parse(comma_list(deny), "--deny");
  if (!d) return fail(d.error());
  p.domains = {std::move(*a), std::move(*d)};
  if (inject.size() > kMaxInjectRules)
    return fail(Errc::too_large, fmt::format("--inject: more than {} rules", kMaxInjectRules));
  for (const auto& spec : inject) {
    auto r = parse_inject_spec(spec);
    if (!r) return fail(std::move(r.error()).wrap("--inject"));
    p.inject.push_back(std::move(*r));
  }
  return p;
}

Result<SplitE2bNetwork> split_e2b_network(const std::vector<std::string>& allow_out,
                                          const std::vector<std::string>& deny_out, std::string_view allow_field,
                                          std::string_view deny_field) {
  SplitE2bNetwork out;
  std::vector<std::string> domains[2];
  const std::vector<std::string>* lists[2] = {&allow_out, &deny_out};
  const std::string_view fields[2] = {allow_field, deny_field};
  std::vector<Cidr>* cidrs[2] = {&out.cidrs_allow, &out.cidrs_deny};
  for (int k = 0; k < 2; ++k) {
    for (size_t i = 0; i < lists[k]->size(); ++i) {
      const std::string& e = (*lists[k])[i];
      // Meant as an address: a bad one is an error about the address, not about a domain.
      bool address = e.find('/') != std::string::npos || e.find(':') != std::string::npos ||
                     (!e.empty() && std::isdigit(static_cast<unsigned char>(e.back())));
      if (!address) {
        domains[k].push_back(e);
        continue;
      }
      auto c = Cidr::parse(e);
      if (!c) return fail(std::move(c.error()).wrap(fmt::format("{}[{}] '{}'", fields[k], i, e)));
      cidrs[k]->push_back(*c);
    }
  }
  auto a = DomainList::parse(domains[0], allow_field);
  if (!a) return fail(a.error());
  auto d = DomainList::parse(domains[1], deny_field);
  if (!d) return fail(d.error());
  out.domains = {std::move(*a), std::move(*d)};
  return out;
}

}  // namespace nexus::net::egress
