// SPDX-License-Identifier: Apache-2.0
// The agent's processes by pid, and the dispatch of reaped wait statuses to them.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "guest-agent/process.hpp"

namespace nexus::agent {

class ProcessTable {
 public:
  ProcessTable() = default;
  ProcessTable(const ProcessTable&) = delete;
  ProcessTable& operator=(const ProcessTable&) = delete;

  /// Track a freshly spawned process (its pid must not be live already).
  void add(std::shared_ptr<Process> process);
  /// A process by pid, or nullptr: a live one, else one that was reaped but whose stream has
  /// not ended (descendants still hold its output), as envd keeps a pid until its end event.
  std::shared_ptr<Process> find(pid_t pid) const;
  std::shared_ptr<Process> find_tag(const std::string& tag) const;
  /// Those processes in pid order.
  std::vector<std::shared_ptr<Process>> list() const;
  /// From the reaper: true if `pid` was ours. The pid leaves the live table at once (the
  /// kernel may reuse it, and a new process of ours with it takes precedence); the Process
  /// lives on, still findable, until its pipes drain.
  bool on_child_status(pid_t pid, int status);
  /// SIGKILL every process tree (live and draining).
  void kill_all();
  size_t live_count() const { return live_.size(); }
  size_t draining_count() const { return draining_.size(); }

 private:
  std::map<pid_t, std::shared_ptr<Process>> live_;
  std::map<const Process*, std::shared_ptr<Process>> draining_;
};

}  // namespace nexus::agent
