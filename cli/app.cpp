// SPDX-License-Identifier: Apache-2.0
// Ties parsing and the commands together.
#include <fmt/format.h>

#include "cli/build_watch.hpp"
#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"

namespace nexus::cli {

int run_cli(std::span<const std::string> args, const Console& console, const CommandEnv& env) {
  if (auto rc = run_completion_command(args, console, env)) return *rc;
  CommandLine line = parse_command_line(args, env);
  if (!line.out.empty()) console.out(line.out);
  if (!line.err.empty()) console.err(line.err);
  if (!line.command) return line.exit_code;
  return run_command(*line.command, console);
}

int run_command(const Command& cmd, const Console& console) {
  ApiClient api(cmd.socket);
  bool running_code = cmd.id == CommandId::sandbox_run || cmd.id == CommandId::sandbox_exec;
  try {
    switch (cmd.id) {
      case CommandId::template_list:
      case CommandId::template_build:
      case CommandId::template_show:
      case CommandId::template_rm: return run_template_command(cmd, api, console);
      case CommandId::template_build_watch:
      case CommandId::template_watch: return run_build_watch(cmd, api, console);
      case CommandId::image_pull:
      case CommandId::image_list:
      case CommandId::image_inspect:
      case CommandId::image_rm: return run_image_command(cmd, api, console);
      case CommandId::version: return run_version_command(cmd, api, console);
      case CommandId::auth_key_create:
      case CommandId::auth_key_list:
      case CommandId::auth_key_revoke: return run_auth_command(cmd, api, console);
      case CommandId::e2b_env: return run_e2b_command(cmd, api, console);
      case CommandId::doctor: return run_doctor_command(cmd, api, console);
      case CommandId::netpolicy_add:
      case CommandId::netpolicy_list:
      case CommandId::netpolicy_rm:
      case CommandId::netpolicy_stats: return run_netpolicy_command(cmd, api, console);
      case CommandId::egress_policy_set:
      case CommandId::egress_policy_show:
      case CommandId::egress_audit:
      case CommandId::egress_stats: return run_egress_command(cmd, api, console);
      default: return run_sandbox_command(cmd, api, console);
    }
  } catch (const Json::exception& e) {
    // An answer of the wrong shape (a field of another type than docs/api.md says).
    console.err(fmt::format("nexus: unexpected answer from nexusd: {}\n", e.what()));
    return running_code ? exit_nexus_error : exit_failed;
  }
}

}  // namespace nexus::cli
