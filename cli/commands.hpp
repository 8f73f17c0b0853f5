// SPDX-License-Identifier: Apache-2.0
// The commands: each takes a built Command, talks to nexusd and prints the outcome.
// Each returns the process exit status (cli/exit_codes.hpp).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "cli/api_client.hpp"
#include "cli/output.hpp"
#include "cli/request.hpp"

namespace nexus::cli {

/// Parse the command line and run the command: the whole CLI but for process set-up.
int run_cli(std::span<const std::string> args, const Console& console, const CommandEnv& env);

/// Run one built command.
int run_command(const Command& cmd, const Console& console);

/// `nexus completion SHELL` and the hidden `nexus __complete KIND` (cli/cmd_completion.cpp),
/// which are not in the command table; nullopt when `args` are another command.
std::optional<int> run_completion_command(std::span<const std::string> args,
                                          const Console& console, const CommandEnv& env);

int run_sandbox_command(const Command& cmd, const ApiClient& api, const Console& console);
int run_image_command(const Command& cmd, const ApiClient& api, const Console& console);
int run_template_command(const Command& cmd, const ApiClient& api, const Console& console);
int run_version_command(const Command& cmd, const ApiClient& api, const Console& console);
int run_auth_command(const Command& cmd, const ApiClient& api, const Console& console);
int run_e2b_command(const Command& cmd, const ApiClient& api, const Console& console);
int run_egress_command(const Command& cmd, const ApiClient& api, const Console& console);
int run_netpolicy_command(const Command& cmd, const ApiClient& api, const Console& console);
int run_doctor_command(const Command& cmd, const ApiClient& api, const Console& console);

/// The exit status for an exec "exit" event: exit_code when >= 0, 128+N when `status`
/// names signal N ("signal: killed" -> 137), else 1.
int exec_exit_status(long long exit_code, std::string_view status);

/// The --json object for a run: sandbox_id, stdout, stderr, exit_code, execution_time, and
/// timed_out and error when the API gave them.
Json run_result_json(const Json& result);

}  // namespace nexus::cli
