// SPDX-License-Identifier: Apache-2.0
// SandboxRecord: what nexusd knows and persists about one sandbox.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/json.hpp"

namespace nexus::daemon {

/// Lifecycle states (DESIGN.md §5). The API calls `running` "active".
enum class SandboxState { creating, running, paused, stopped, failed };

std::string_view state_name(SandboxState s);         ///< "creating", "active", ...
bool parse_state(std::string_view name, SandboxState& out);

/// What happens when a sandbox's time runs out (E2B lifecycle.onTimeout).
enum class TimeoutAction { stop, pause };

struct SandboxRecord {
  std::string id;
  std::string name;
  std::string template_name;
  std::string isolation = "jail";
  SandboxState state = SandboxState::creating;
  int cpus = 1;
  int memory_mib = 512;
  std::map<std::string, std::string> env;
  std::string owner;
  int64_t ttl_seconds = 600;
  int64_t created_at_ms = 0;
  int64_t expires_at_ms = 0;
  int64_t last_active_at_ms = 0;
  int64_t stopped_at_ms = 0;
  int64_t pid = 0;               ///< host pid of the sandbox init, 0 if none
  uint64_t pid_start_time = 0;   ///< /proc/<pid>/stat start time, guards against pid reuse
  std::string error;             ///< why the sandbox failed, if it did
  std::map<std::string, std::string> metadata;  ///< free-form labels (E2B metadata)
  TimeoutAction on_timeout = TimeoutAction::stop;
  std::string access_token;      ///< the agent's envd access token (X-Access-Token)
  int64_t net_index = -1;        ///< the sandbox's block of the address pool; -1: no network of its own
  /// The network settings asked for (daemon/network_settings.hpp): rules, domains, public
  /// traffic. Kept as JSON so the record does not depend on net/.
  Json network = Json::object();

  bool live() const { return state == SandboxState::running || state == SandboxState::paused; }
};

/// The API representation (docs/api.md "Sandbox object").
Json to_api_json(const SandboxRecord& r, int64_t now_ms);

}  // namespace nexus::daemon
