// SPDX-License-Identifier: Apache-2.0
// The run and exec endpoints: code and commands in a sandbox, through its agent.
#pragma once

#include <memory>
#include <string>

#include "common/http.hpp"
#include "common/json.hpp"
#include "daemon/sandbox_manager.hpp"

namespace nexus::daemon {

/// POST /v1/sandboxes/{id}/run
void handle_run(SandboxManager& mgr, const std::string& id, Json body, std::shared_ptr<http::Exchange> ex);
/// POST /v1/sandboxes/{id}/exec
void handle_exec(SandboxManager& mgr, const std::string& id, Json body, std::shared_ptr<http::Exchange> ex);

/// The interpreter command for a language; invalid_argument for an unknown one.
Result<ProcessSpec> run_command_for(const std::string& language, const std::string& code);

}  // namespace nexus::daemon
