// SPDX-License-Identifier: Apache-2.0
#include "net/nft/nft_policy.hpp"

#include <net/if.h>

#include <algorithm>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "net/nft/nft_context.hpp"
#include "net/nft/nft_policy_rules.hpp"

namespace nexus::net::nft {
namespace {

struct TableView {
  bool present = false;
  std::vector<Json> items;  ///< the listing's objects
};

Result<TableView> list_table() {
  TableView v;
  auto j = list_json(fmt::format("list table inet {}", kPolicyTable), "listing table inet nexus_policy");
  if (!j) {
    if (j.error().is(Errc::not_found)) return v;
    return fail(std::move(j).error());
  }
  v.present = true;
  for (auto& item : *j)
    if (item.is_object()) v.items.push_back(std::move(item));
  return v;
}

std::string str(const Json& o, const char* key) {
  return o.is_object() && o.contains(key) && o[key].is_string() ? o[key].get<std::string>() : std::string();
}

// Everything of `ifname` in the table, and whether anything of another interface is there.
InterfaceObjects find_objects(const TableView& v, const std::string& ifname, bool* others) {
  InterfaceObjects o;
  o.ifname = ifname;
  *others = false;
  for (const auto& item : v.items) {
    if (item.contains("chain")) {
      const std::string n = str(item["chain"], "name");
      if (n == egress_chain(ifname)) o.egress_chain = true;
      else if (n == ingress_chain(ifname)) o.ingress_chain = true;
      else if (n.rfind("sb_", 0) == 0) *others = true;
    } else if (item.contains("counter")) {
      const std::string n = str(item["counter"], "name");
      if (is_counter_of(n, ifname)) o.counters.push_back(n);
      else *others = true;
    } else if (item.contains("map")) {
      const Json& m = item["map"];
      const std::string n = str(m, "name");
      if (!m.contains("elem") || !m["elem"].is_array()) continue;
      for (const auto& e : m["elem"]) {
        // [key, verdict]
        if (!e.is_array() || e.empty() || !e[0].is_string()) continue;
        if (e[0].get<std::string>() == ifname) {
          if (n == "from_sandbox_ifs") o.from_element = true;
          if (n == "to_sandbox_ifs") o.to_element = true;
        } else {
          *others = true;
        }
      }
    }
  }
  return o;
}

// The counter object each rule id of `ifname`'s chains counts into, read from the rules'
// comments (the id) and their named counter references.
std::map<std::string, std::string> counters_by_id(const TableView& v, const std::string& ifname) {
  std::map<std::string, std::string> out;
  const std::string e = egress_chain(ifname), i = ingress_chain(ifname);
  for (const auto& item : v.items) {
    if (!item.contains("rule")) continue;
    const Json& r = item["rule"];
    const std::string chain = str(r, "chain"), id = str(r, "comment");
    if ((chain != e && chain != i) || id.empty() || !r.contains("expr") || !r["expr"].is_array()) continue;
    for (const auto& x : r["expr"])
      if (x.is_object() && x.contains("counter") && x["counter"].is_string()) {
        const std::string name = x["counter"].get<std::string>();
        if (is_counter_of(name, ifname)) out[id] = name;
      }
  }
  return out;
}

// The slot number of "c_<if>_<n>", or nullopt for a stat counter.
std::optional<uint64_t> slot_of(const std::string& counter, const std::string& ifname) {
  const size_t head = ifname.size() + 3;  // "c_" + ifname + "_"
  if (counter.size() <= head || counter.size() - head > 19) return std::nullopt;
  uint64_t n = 0;
  for (size_t k = head; k < counter.size(); ++k) {
    if (counter[k] < '0' || counter[k] > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(counter[k] - '0');
  }
  return n;
}

}  // namespace

Result<std::unique_ptr<NftPolicy>> NftPolicy::attach(const std::string& ifname, const RuleSet& set, bool take_over) {
  const std::string what = fmt::format("nftables policy on {}", ifname);
  NEXUS_TRY(validate_ifname(ifname).map_error([&](Error e) { return e.wrap(what); }));
  auto rules = effective_rules(set);
  if (!rules) return fail(std::move(rules).error().wrap(what));
  if (::if_nametoindex(ifname.c_str()) == 0)
    return fail(Errc::not_found, fmt::format("{}: no interface named '{}' in this network namespace", what, ifname));
  auto table = list_table();
  if (!table) return fail(std::move(table).error().wrap(what));
  bool others = false;
  InterfaceObjects leftover = find_objects(*table, ifname, &others);
  if (!leftover.empty() && !take_over)
    return fail(Errc::already_exists,
                fmt::format("{}: the interface has chains in table inet {} already (another policy, or one left "
                            "behind: NftPolicy::remove_interface)",
                            what, kPolicyTable));

  std::unique_ptr<NftPolicy> p(new NftPolicy(ifname));
  ChainPlan plan{ifname, *rules, {}, set.egress_default, set.ingress_default};
  // Taking over: a rule id that the dead policy had keeps its counter object and its counts
  // (so do the stat counters); new ids get slots past the old ones.
  std::map<std::string, std::string> old = counters_by_id(*table, ifname);
  for (const auto& c : leftover.counters)
    if (auto n = slot_of(c, ifname)) p->next_slot_ = std::max(p->next_slot_, *n + 1);
  for (const auto& r : *rules) {
    auto it = old.find(r.id);
    plan.counters[r.id] = it != old.end() ? it->second : rule_counter(ifname, p->next_slot_++);
  }
  std::set<std::string> keep;
  for (const auto& [id, name] : plan.counters) keep.insert(name);
  for (auto c : kStatCounters) keep.insert(stat_counter(ifname, c));
  std::erase_if(leftover.counters, [&](const std::string& c) { return keep.count(c) > 0; });
  // The leftovers go in the same transaction as the new chains: no moment without a policy.
  // ("add counter" of a kept counter changes nothing: adding an existing object is a no-op.)
  std::string batch = leftover.empty() ? std::string() : render_detach(leftover, /*drop_table=*/false);
  batch += render_attach(plan);
  auto r = run_batch(batch, what);
  if (!r) {
    // "create chain" lost a race with another attach: say so the same way.
    if (r.error().is(Errc::already_exists))
      return fail(Errc::already_exists, fmt::format("{}: the interface has chains already", what));
    return fail(std::move(r).error());
  }
  p->attached_ = true;
  p->active_ = std::move(plan.rules);
  p->counters_ = std::move(plan.counters);
  p->egress_default_ = set.egress_default;
  p->ingress_default_ = set.ingress_default;
  return p;
}

NftPolicy::~NftPolicy() { (void)detach(); }

Result<void> NftPolicy::replace(const RuleSet& set) {
  const std::string what = fmt::format("replacing the nftables policy on {}", ifname_);
  if (!attached_) return fail(Errc::conflict, what + ": detached");
  auto rules = effective_rules(set);
  if (!rules) return fail(std::move(rules).error().wrap(what));

  ChainPlan plan{ifname_, *rules, {}, set.egress_default, set.ingress_default};
  std::vector<std::string> added, removed;
  uint64_t slot = next_slot_;
  for (const auto& r : *rules) {
    auto it = counters_.find(r.id);
    if (it != counters_.end()) {
      plan.counters[r.id] = it->second;
    } else {
      plan.counters[r.id] = rule_counter(ifname_, slot++);
      added.push_back(plan.counters[r.id]);
    }
  }
  for (const auto& [id, name] : counters_)
    if (!plan.counters.count(id)) removed.push_back(name);
  NEXUS_TRY(run_batch(render_replace(plan, added, removed), what));
  next_slot_ = slot;
  active_ = std::move(plan.rules);
  counters_ = std::move(plan.counters);
  egress_default_ = set.egress_default;
  ingress_default_ = set.ingress_default;
  ++generation_;
  return {};
}

Result<std::map<std::string, Counter>> NftPolicy::read_counters() const {
  const std::string what = fmt::format("reading the counters of {}", ifname_);
  if (!attached_) return fail(Errc::conflict, what + ": detached");
  auto j = list_json(fmt::format("list counters table inet {}", kPolicyTable), what);
  if (!j) return fail(std::move(j).error());
  std::map<std::string, Counter> out;
  for (const auto& item : *j) {
    if (!item.is_object() || !item.contains("counter")) continue;
    const Json& c = item["counter"];
    const std::string n = str(c, "name");
    if (!is_counter_of(n, ifname_)) continue;
    Counter k;
    if (c.contains("packets") && c["packets"].is_number_unsigned()) k.packets = c["packets"].get<uint64_t>();
    if (c.contains("bytes") && c["bytes"].is_number_unsigned()) k.bytes = c["bytes"].get<uint64_t>();
    out[n] = k;
  }
  return out;
}

Result<std::vector<RuleCounter>> NftPolicy::rule_counters() const {
  auto all = read_counters();
  if (!all) return fail(std::move(all).error());
  std::vector<RuleCounter> out;
  out.reserve(active_.size());
  for (const auto& r : active_) {
    RuleCounter rc{r.id, r.direction, {}};
    if (auto it = counters_.find(r.id); it != counters_.end())
      if (auto c = all->find(it->second); c != all->end()) rc.counter = c->second;
    out.push_back(std::move(rc));
  }
  return out;
}

Result<NftPolicyStats> NftPolicy::stats() const {
  auto all = read_counters();
  if (!all) return fail(std::move(all).error());
  auto get = [&](StatCounter c) {
    auto it = all->find(stat_counter(ifname_, c));
    return it == all->end() ? Counter{} : it->second;
  };
  NftPolicyStats s;
  s.egress_default = get(StatCounter::egress_default);
  s.ingress_default = get(StatCounter::ingress_default);
  s.egress_reply = get(StatCounter::egress_reply);
  s.ingress_reply = get(StatCounter::ingress_reply);
  s.related = get(StatCounter::related);
  s.ndp = get(StatCounter::ndp);
  return s;
}

Result<void> NftPolicy::detach() {
  if (!attached_) return {};
  NEXUS_TRY(remove_interface(ifname_));
  attached_ = false;
  active_.clear();
  counters_.clear();
  return {};
}

Result<std::vector<std::string>> NftPolicy::list_interfaces() {
  auto table = list_table();
  if (!table) return fail(std::move(table).error());
  std::set<std::string> names;
  for (const auto& item : table->items) {
    if (item.contains("chain")) {
      const std::string n = str(item["chain"], "name");
      if (n.size() > 5 && n.rfind("sb_", 0) == 0 && (n.ends_with("_e") || n.ends_with("_i")))
        names.insert(n.substr(3, n.size() - 5));
    } else if (item.contains("map") && item["map"].contains("elem") && item["map"]["elem"].is_array()) {
      for (const auto& e : item["map"]["elem"])
        if (e.is_array() && !e.empty() && e[0].is_string()) names.insert(e[0].get<std::string>());
    }
  }
  return std::vector<std::string>(names.begin(), names.end());
}

Result<void> NftPolicy::remove_interface(const std::string& ifname) {
  const std::string what = fmt::format("removing the nftables policy of {}", ifname);
  NEXUS_TRY(validate_ifname(ifname).map_error([&](Error e) { return e.wrap(what); }));
  auto table = list_table();
  if (!table) return fail(std::move(table).error().wrap(what));
  if (!table->present) return {};
  bool others = false;
  InterfaceObjects o = find_objects(*table, ifname, &others);
  if (o.empty() && others) return {};
  return run_batch(render_detach(o, /*drop_table=*/!others), what);
}

}  // namespace nexus::net::nft
