// SPDX-License-Identifier: Apache-2.0
// Request routing and access-token checks for the agent's envd API.
#pragma once

#include <memory>

#include "common/http.hpp"
#include "common/uv.hpp"
#include "guest-agent/agent_state.hpp"
#include "guest-agent/files_service.hpp"
#include "guest-agent/filesystem_service.hpp"
#include "guest-agent/interpreter_service.hpp"
#include "guest-agent/process_service.hpp"
#include "guest-agent/process_table.hpp"

namespace nexus::agent {

class AgentServer {
 public:
  AgentServer(uv::Loop& loop, AgentState& state, ProcessTable& table);
  /// The http::Handler.
  void handle(std::shared_ptr<http::Exchange> ex);

 private:
  /// The request carries the sandbox's access token (or none is set).
  bool authorized(const http::RequestHead& head) const;
  /// Either token: what /contexts requires.
  bool traffic_authorized(const http::RequestHead& head) const;
  void handle_init(std::shared_ptr<http::Exchange> ex);

  AgentState& state_;
  ProcessService processes_;
  FilesService files_;
  FilesystemService filesystem_;
  InterpreterService interpreter_;
};

}  // namespace nexus::agent
