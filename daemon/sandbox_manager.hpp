// SPDX-License-Identifier: Apache-2.0
// SandboxManager: sandbox lifecycle (create, pause, resume, stop), TTL expiry, and
// reconciliation with what is really running after a restart.
//
// Thread affinity: the daemon loop thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/uv.hpp"
#include "daemon/agent_client.hpp"
#include "daemon/start_command.hpp"
#include "daemon/backend.hpp"
#include "daemon/config.hpp"
#include "daemon/isolation.hpp"
#include "daemon/microvm_backend.hpp"
#include "daemon/network_settings.hpp"
#include "daemon/networking.hpp"
#include "daemon/sandbox_record.hpp"
#include "daemon/store.hpp"
#include "rootfs/template_store.hpp"

namespace nexus::daemon {

/// A create request as the client gave it; unset fields take the daemon's defaults.
/// SandboxManager::create validates every field.
struct CreateRequest {
  std::string name;
  std::string template_name;
  std::optional<int64_t> ttl_seconds;
  std::optional<int64_t> cpus;
  std::optional<int64_t> memory_mib;
  std::map<std::string, std::string> env;
  std::map<std::string, std::string> metadata;
  TimeoutAction on_timeout = TimeoutAction::stop;
  std::string owner;
  std::string isolation;  ///< auto, microvm or jail; empty: the daemon's default
  NetworkSettings network;  ///< rules, domains, public traffic; enabled = false: loopback only
};

class SandboxManager {
 public:
  SandboxManager(uv::Loop& loop, Store& store, DaemonConfig config);
  ~SandboxManager();

  /// Adopt live sandboxes, clean up dead ones and leftovers. Call once at start.
  Result<void> reconcile();
  /// Start the expiry/liveness sweeper.
  void start_sweeper();

  void create(const CreateRequest& req, std::function<void(Result<SandboxRecord>)> done);
  Result<SandboxRecord> get(const std::string& id);
  Result<std::vector<SandboxRecord>> list(bool include_stopped);
  /// The live sandboxes (creating, running, paused), from memory.
  std::vector<SandboxRecord> live_records() const;
  Result<SandboxRecord> stop(const std::string& id);
  Result<SandboxRecord> pause(const std::string& id);
  Result<SandboxRecord> resume(const std::string& id);
  Result<SandboxRecord> set_ttl(const std::string& id, int64_t ttl_seconds);
  /// Make a running sandbox live at least until now + `seconds` (never shortens).
  Result<SandboxRecord> extend(const std::string& id, int64_t seconds);
  /// How to reach a running sandbox's agent (for the E2B proxy); conflict when not running.
  Result<http::Endpoint> agent_endpoint(const std::string& id);

  /// For run/exec: the sandbox's agent, if the sandbox is active; refreshes its TTL.
  Result<AgentClient*> begin_command(const std::string& id);
  /// Record activity at the end of a command (refreshes the TTL again).
  void end_command(const std::string& id);

  /// A sandbox's network settings (the stored ones, also for a stopped sandbox).
  Result<NetworkSettings> network_settings(const std::string& id);
  /// Replaces a live sandbox's network settings and applies its rules at once (atomically for
  /// packets). On error nothing changes.
  Result<SandboxRecord> set_network(const std::string& id, NetworkSettings settings);
  /// Per-rule counters of a live sandbox's policy.
  Result<Json> network_stats(const std::string& id);
  const Networking& networking() const { return net_; }
  Networking& networking() { return net_; }

  /// Number of live (creating, active or paused) sandboxes made from `template_name`.
  size_t count_using_template(const std::string& template_name) const;

  const DaemonConfig& config() const { return config_; }
  /// What start-up found out about this host (probe, kernel, initrd); used by `auto`.
  /// When microVMs can run, the disk pool starts filling.
  void set_host(HostFacts host);
  const HostFacts& host() const { return host_; }
  /// The isolation creates get when they do not ask (config().isolation, checked by main).
  Isolation default_isolation() const;
  size_t live_count() const { return live_.size(); }

 private:
  struct Live {
    SandboxRecord record;
    std::unique_ptr<AgentClient> agent;
    std::unique_ptr<StartCommand> start_command;  ///< destroyed before the agent it uses
  };

  /// A checked request: the record to create, the template to start it from and the
  /// template's defaults (read once, so the sandbox starts with the ones it was checked against).
  struct Validated {
    SandboxRecord record;
    rootfs::TemplateInfo tpl;
    rootfs::TemplateDefaults defaults;
  };
  Result<Validated> validate(const CreateRequest& req);
  /// The live sandbox `id`, or an error: not_found if unknown, conflict if it is not live.
  Result<Live*> require_live(const std::string& id);
  /// Record activity now: last_active_at, and expires_at extended to now + TTL.
  static void touch(SandboxRecord& r);
  Result<void> teardown(SandboxRecord& r, SandboxState final_state, std::string reason);
  void sweep();
  Result<void> save(const SandboxRecord& r);
  Live* find_live(const std::string& id);
  Backend& backend_for(const SandboxRecord& r);
  /// A backend saw a sandbox's process end on its own.
  void backend_exit(const std::string& id, SandboxState state, std::string reason);

  uv::Loop& loop_;
  Store& store_;
  DaemonConfig config_;
  HostFacts host_;
  Networking net_;
  std::unique_ptr<Backend> jail_;
  std::unique_ptr<MicrovmBackend> microvm_;
  std::map<std::string, std::unique_ptr<Live>> live_;
  uv::Timer sweeper_;
  int64_t last_prune_ms_ = 0;
};

}  // namespace nexus::daemon
