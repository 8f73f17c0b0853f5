// SPDX-License-Identifier: Apache-2.0
// Backend: an isolation backend (jail, microvm) as the sandbox manager drives it. The
// manager owns the records, the store and the agent clients; a backend owns the processes
// and files of its sandboxes.
//
// Thread affinity: the daemon loop thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/http.hpp"
#include "common/result.hpp"
#include "daemon/sandbox_record.hpp"
#include "rootfs/template_store.hpp"

namespace nexus::daemon {

class Backend {
 public:
  virtual ~Backend() = default;

  /// "jail" or "microvm", as in SandboxRecord::isolation.
  virtual std::string_view name() const = 0;

  /// Start `r` from template `tpl`. `spawned(pid, start_time)` is called once the process
  /// nexusd supervises runs (the caller records it, so a restarted nexusd finds it), then
  /// `done` once the agent can be reached at agent_endpoint(r) (it is not initialised yet),
  /// or with the error. Either may run before start() returns; after an error the caller
  /// calls destroy(r). destroy(r) before `done` cancels the start: `done` then runs later
  /// from the loop (never from inside destroy()) with an error.
  virtual void start(const SandboxRecord& r, const rootfs::TemplateInfo& tpl,
                     std::function<void(pid_t, uint64_t)> spawned, std::function<void(Result<void>)> done) = 0;

  /// Take over a sandbox whose process was found alive after nexusd restarted.
  virtual void adopt(const SandboxRecord& r) = 0;

  /// Where the sandbox's agent listens.
  virtual http::Endpoint agent_endpoint(const SandboxRecord& r) const = 0;

  virtual Result<void> pause(const SandboxRecord& r) = 0;
  virtual Result<void> resume(const SandboxRecord& r) = 0;

  /// Stop everything of `r` and remove its files. Idempotent; also for half-started sandboxes
  /// and for records whose processes died while nexusd was down.
  virtual Result<void> destroy(const SandboxRecord& r) = 0;
};

/// A backend's report that a sandbox's supervised process ended on its own: the state it
/// ended in (stopped for a clean guest power-off, else failed) and why.
using ExitReport = std::function<void(const std::string& id, SandboxState state, std::string reason)>;

}  // namespace nexus::daemon
