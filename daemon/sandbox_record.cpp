// SPDX-License-Identifier: Apache-2.0
// SandboxRecord helpers: state names and the API JSON form.
#include "daemon/sandbox_record.hpp"

#include "common/strings.hpp"

namespace nexus::daemon {

std::string_view state_name(SandboxState s) {
  switch (s) {
    case SandboxState::creating: return "creating";
    case SandboxState::running: return "active";
    case SandboxState::paused: return "paused";
    case SandboxState::stopped: return "stopped";
    case SandboxState::failed: return "failed";
  }
  return "failed";
}

bool parse_state(std::string_view name, SandboxState& out) {
  for (auto s : {SandboxState::creating, SandboxState::running, SandboxState::paused,
                 SandboxState::stopped, SandboxState::failed}) {
    if (state_name(s) == name) {
      out = s;
      return true;
    }
  }
  return false;
}

Json to_api_json(const SandboxRecord& r, int64_t now_ms) {
  Json j = {
      {"sandbox_id", r.id},
      {"name", r.name},
      {"status", state_name(r.state)},
      {"template", r.template_name},
      {"isolation", r.isolation},
      {"cpus", r.cpus},
      {"memory_mib", r.memory_mib},
      {"env", r.env},
      {"owner", r.owner},
      {"ttl_seconds", r.ttl_seconds},
      {"created_at", format_rfc3339_ms(r.created_at_ms)},
      {"expires_at", format_rfc3339_ms(r.expires_at_ms)},
      {"last_active_at", format_rfc3339_ms(r.last_active_at_ms)},
  };
  int64_t end = r.live() || r.state == SandboxState::creating ? now_ms : r.stopped_at_ms;
  j["uptime_seconds"] = end > r.created_at_ms ? (end - r.created_at_ms) / 1000 : 0;
  if (r.stopped_at_ms) j["stopped_at"] = format_rfc3339_ms(r.stopped_at_ms);
  if (!r.error.empty()) j["error"] = r.error;
  return j;
}

}  // namespace nexus::daemon
