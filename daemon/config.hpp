// SPDX-License-Identifier: Apache-2.0
// DaemonConfig: where nexusd keeps things and the defaults it applies.
#pragma once

#include <cstdint>
#include <string>

namespace nexus::daemon {

struct DaemonConfig {
  std::string root_dir = "/var/lib/nexus";     ///< nexus.db, templates/, sandboxes/
  std::string run_dir = "/run/nexus";          ///< nexus.sock, sandboxes/<id>/agent.sock
  std::string socket_path;                     ///< default <run_dir>/nexus.sock
  std::string agent_path;                      ///< the static nexus-agent binary
  std::string cache_dir = "/var/cache/nexus";  ///< cached template bases (keyed by input hash)
  std::string default_template = "ai-agent-default";
  int64_t default_ttl_seconds = 600;
  int default_cpus = 1;
  int default_memory_mib = 512;
  uint64_t pids_limit = 512;
  uint32_t uid_base = 100000;
  uint32_t uid_count = 65536;
  int64_t sweep_interval_ms = 1000;

  std::string templates_dir() const { return root_dir + "/templates"; }
  std::string sandboxes_dir() const { return root_dir + "/sandboxes"; }
  std::string sandbox_dir(const std::string& id) const { return sandboxes_dir() + "/" + id; }
  std::string agent_socket_dir(const std::string& id) const { return run_dir + "/sandboxes/" + id; }
  std::string agent_socket(const std::string& id) const { return agent_socket_dir(id) + "/agent.sock"; }
};

}  // namespace nexus::daemon
