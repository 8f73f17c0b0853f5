// SPDX-License-Identifier: Apache-2.0
// Per-sandbox cgroups: limits, joining, freezing, killing, usage; cgroup v1 and v2 backends.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "daemon/jail/jail.hpp"

namespace nexus::jail::detail {

/// The cgroup(s) of one sandbox: /sys/fs/cgroup/<controller>/nexus/<id> on v1,
/// /sys/fs/cgroup/nexus/<id> on v2. Constructing one touches nothing.
class Cgroup {
 public:
  virtual ~Cgroup() = default;

  /// Create the cgroup(s) (reusing existing ones) and apply the limits.
  virtual Result<void> create(const Limits& limits) = 0;
  /// The cgroup.procs files a process writes "0" to, to join every hierarchy.
  virtual std::vector<std::string> procs_files() const = 0;
  /// True when at least one of the sandbox's cgroup directories exists.
  virtual bool exists() const = 0;
  /// Freeze and wait until every task is frozen.
  virtual Result<void> freeze() = 0;
  virtual Result<void> thaw() = 0;
  /// Pids of all processes in the sandbox's cgroup(s); missing cgroups give none.
  virtual std::vector<pid_t> pids() const = 0;
  /// SIGKILL every process in the cgroup(s) once (best effort).
  virtual void kill_all() = 0;
  /// Remove the cgroup directories; missing ones are fine.
  virtual Result<void> remove() = 0;
  virtual Result<Usage> usage() const = 0;
};

/// Sandbox ids name cgroup directories and the hostname: [A-Za-z0-9_.-], 1..64 characters,
/// not "." or "..".
Result<void> check_sandbox_id(const std::string& id);

/// The backend for this host: v2 when /sys/fs/cgroup is the unified hierarchy, else v1.
std::unique_ptr<Cgroup> open_cgroup(const std::string& id);

}  // namespace nexus::jail::detail
