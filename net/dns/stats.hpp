// SPDX-License-Identifier: Apache-2.0
// The forwarder's counters, per sandbox and in total, as plain structs that turn into JSON.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "common/json.hpp"

namespace nexus::net::dns {

struct Counters {
  uint64_t queries = 0;            ///< well-formed queries from registered clients
  uint64_t answers = 0;            ///< answers relayed from an upstream
  uint64_t refused = 0;            ///< answered REFUSED here (no DNS for the sandbox, zone transfers)
  uint64_t servfail = 0;           ///< answered SERVFAIL here: every upstream timed out or failed
  uint64_t truncated = 0;          ///< answers relayed with TC set (the client retries over TCP)
  uint64_t upstream_timeouts = 0;  ///< attempts an upstream did not answer in time
  uint64_t private_removed = 0;    ///< A/AAAA records removed by the rebinding protection
  uint64_t tcp_connections = 0;    ///< TCP connections accepted
  // Dropped, by reason:
  uint64_t dropped_malformed = 0;       ///< not a valid query (UDP dropped, TCP closed)
  uint64_t dropped_not_registered = 0;  ///< from an address nexusd did not register (total only)
  uint64_t dropped_spoofed = 0;         ///< a registered address arriving on another interface (total only)
  uint64_t dropped_over_limit = 0;      ///< past the in-flight or connection bounds
  uint64_t dropped_bad_answer = 0;      ///< upstream messages matching no query, or malformed
};

void to_json(Json& j, const Counters& c);

struct ForwarderStats {
  Counters total;
  std::map<std::string, Counters, std::less<>> sandboxes;
  uint64_t in_flight = 0;         ///< queries waiting for an upstream now
  uint64_t tcp_open = 0;          ///< client TCP connections open now
};

void to_json(Json& j, const ForwarderStats& s);

/// The counters behind ForwarderStats. Written by the loop thread, read by any thread.
class StatsTable {
 public:
  /// Adds `n` to the total and, when `sandbox` is not empty, to that sandbox's counter.
  void add(std::string_view sandbox, uint64_t Counters::*field, uint64_t n = 1);
  void forget(std::string_view sandbox);
  ForwarderStats snapshot() const;
  void set_gauges(uint64_t in_flight, uint64_t tcp_open);

 private:
  mutable std::mutex mu_;
  ForwarderStats s_;
};

}  // namespace nexus::net::dns
