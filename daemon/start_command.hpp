// SPDX-License-Identifier: Apache-2.0
// StartCommand: a template's start command (CMD), started in a new sandbox through its agent
// and kept to the template's restart policy: `never`, `on-failure[:N]` (a non-zero exit or a
// signal; at most N restarts, 0 = no limit) or `always`. Restarts back off exponentially from
// 100 ms to 30 s; a run that lasted 10 s resets the back-off.
//
// Thread affinity: the daemon loop thread. Destroying it (the sandbox stopped) cancels a
// pending restart; callbacks of a run still in flight then do nothing.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/uv.hpp"
#include "daemon/agent_client.hpp"
#include "rootfs/template_defaults.hpp"

namespace nexus::daemon {

class StartCommand {
 public:
  /// `agent()` gives the sandbox's agent, or null once it has none.
  StartCommand(uv::Loop& loop, std::string sandbox_id, rootfs::Command command, rootfs::Restart restart,
               std::function<AgentClient*()> agent);
  ~StartCommand();
  StartCommand(const StartCommand&) = delete;
  StartCommand& operator=(const StartCommand&) = delete;

  void start();
  int restarts() const { return restarts_; }
  int runs() const { return runs_; }

  /// Whether a run that ended as `end` is started again, after `restarts` earlier restarts.
  static bool should_restart(const rootfs::Restart& policy, const ProcessEnd& end, int restarts);
  /// The wait before restart number `attempt` (0-based, counted since the last long run).
  static std::chrono::milliseconds backoff(int attempt);

 private:
  void ended(const ProcessEnd& end);

  uv::Timer timer_;
  std::string id_;
  rootfs::Command command_;
  rootfs::Restart restart_;
  std::function<AgentClient*()> agent_;
  std::shared_ptr<StartCommand*> self_;  // callbacks hold a weak_ptr: null once destroyed
  std::shared_ptr<ProcessCall> call_;
  std::chrono::steady_clock::time_point started_;
  int restarts_ = 0, runs_ = 0, attempt_ = 0;
};

}  // namespace nexus::daemon
