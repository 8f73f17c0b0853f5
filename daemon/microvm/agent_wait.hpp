// SPDX-License-Identifier: Apache-2.0
// Waiting for a booting microVM's agent: retry GET /health through the hybrid vsock socket
// (the VMM closes connections while nothing in the guest listens) until it answers or a
// boot deadline passes.
//
// Thread affinity: the loop thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "common/http.hpp"
#include "common/result.hpp"
#include "common/uv.hpp"

namespace nexus::microvm {

struct AgentWaitOptions {
  uint64_t deadline_ms = 30000;  ///< give up this long after start()
  uint64_t retry_ms = 15;        ///< pause between attempts
  uint64_t attempt_timeout_ms = 2000;
};

/// One wait. Destroying it cancels it: `done` is then never called.
class AgentWait {
 public:
  /// `check` is asked before every retry whether waiting still makes sense (an error, e.g.
  /// "nexus-vmm exited: ...", ends the wait with it).
  AgentWait(uv::Loop& loop, http::Endpoint endpoint, AgentWaitOptions options,
            std::function<Result<void>()> check, std::function<void(Result<void>)> done);
  ~AgentWait();
  AgentWait(const AgentWait&) = delete;
  AgentWait& operator=(const AgentWait&) = delete;

  void start();

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace nexus::microvm
