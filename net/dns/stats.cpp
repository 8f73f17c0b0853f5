// SPDX-License-Identifier: Apache-2.0
// Forwarder counters.
#include "net/dns/stats.hpp"

namespace nexus::net::dns {

void to_json(Json& j, const Counters& c) {
  j = Json{{"queries", c.queries},
           {"answers", c.answers},
           {"refused", c.refused},
           {"servfail", c.servfail},
           {"truncated", c.truncated},
           {"upstream_timeouts", c.upstream_timeouts},
           {"private_removed", c.private_removed},
           {"tcp_connections", c.tcp_connections},
           {"dropped",
            {{"malformed", c.dropped_malformed},
             {"not_registered", c.dropped_not_registered},
             {"spoofed", c.dropped_spoofed},
             {"over_limit", c.dropped_over_limit},
             {"bad_answer", c.dropped_bad_answer}}}};
}

void to_json(Json& j, const ForwarderStats& s) {
  Json sandboxes = Json::object();
  for (const auto& [id, c] : s.sandboxes) sandboxes[id] = c;
  j = Json{{"total", s.total}, {"sandboxes", sandboxes}, {"in_flight", s.in_flight}, {"tcp_open", s.tcp_open}};
}

void StatsTable::add(std::string_view sandbox, uint64_t Counters::*field, uint64_t n) {
  std::lock_guard lock(mu_);
  s_.total.*field += n;
  if (!sandbox.empty()) {
    auto it = s_.sandboxes.find(sandbox);
    if (it == s_.sandboxes.end()) it = s_.sandboxes.emplace(std::string(sandbox), Counters{}).first;
    it->second.*field += n;
  }
}

void StatsTable::forget(std::string_view sandbox) {
  std::lock_guard lock(mu_);
  if (auto it = s_.sandboxes.find(sandbox); it != s_.sandboxes.end()) s_.sandboxes.erase(it);
}

ForwarderStats StatsTable::snapshot() const {
  std::lock_guard lock(mu_);
  return s_;
}

void StatsTable::set_gauges(uint64_t in_flight, uint64_t tcp_open) {
  std::lock_guard lock(mu_);
  s_.in_flight = in_flight;
  s_.tcp_open = tcp_open;
}

}  // namespace nexus::net::dns
