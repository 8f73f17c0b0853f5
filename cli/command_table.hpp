// SPDX-License-Identifier: Apache-2.0
// The table of `nexus` commands, arguments and flags: the one description that the parser,
// the help text and the shell completions are generated from, and the man pages are checked
// against (tests/cli/test_man_pages.cpp).
#pragma once

#include <span>
#include <string_view>
#include <vector>

namespace nexus::cli {

enum class CommandId {
  sandbox_create,
  sandbox_run,
  sandbox_exec,
  sandbox_pause,
  sandbox_resume,
  sandbox_stop,
  sandbox_list,
  sandbox_status,
  sandbox_port,
  netpolicy_add,
  netpolicy_list,
  netpolicy_rm,
  netpolicy_stats,
  egress_policy_set,
  egress_policy_show,
  egress_audit,
  egress_stats,
  template_list,
  template_build,
  template_build_watch,
  template_watch,
  template_show,
  template_rm,
  image_pull,
  image_list,
  image_inspect,
  image_rm,
  auth_key_create,
  auth_key_list,
  auth_key_revoke,
  e2b_env,
  doctor,
  version,
};

enum class ArgKind {
  flag,   ///< present or not: --json
  value,  ///< one value: --ttl MINUTES, or a positional ID
  list,   ///< repeatable option (--env K=V) or trailing positional (CMD [ARG]...)
};

/// How the parser checks a value before the command sees it.
enum class ArgCheck {
  none,
  positive_int,  ///< 1 .. 2^31-1
  key_value,     ///< K=V with a non-empty K
  language,      ///< one of run_languages
  isolation,     ///< one of isolation_modes
};

/// What a shell completes as the argument's value (cli/completion.cpp). The words of
/// ArgCheck::language and ArgCheck::isolation complete without it.
enum class ArgValues {
  none,           ///< free text
  sandbox_id,     ///< IDs of nexusd's sandboxes (asked at completion time)
  template_name,  ///< names of nexusd's templates
  image_ref,      ///< references of nexusd's images
  file,           ///< a path on this host
  directory,      ///< a directory on this host
};

struct ArgSpec {
  std::string_view names;  ///< "-c,--code", "--ttl", or an upper-case positional name "ID"
  std::string_view key;    ///< where the parsed value is stored (Invocation::values)
  ArgKind kind = ArgKind::value;
  std::string_view value_name;  ///< shown in help: "MINUTES"; empty for flags/positionals
  std::string_view help;
  bool required = false;
  ArgCheck check = ArgCheck::none;
  std::string_view excludes;  ///< key of an argument that cannot be combined with this one
  ArgValues values = ArgValues::none;

  bool positional() const { return !names.empty() && names.front() != '-'; }
};

struct CommandSpec {
  CommandId id;
  std::string_view group;  ///< "sandbox", "auth key" (nested), or "" for a top-level command
  std::string_view name;   ///< "create"
  std::string_view summary;
  std::string_view footer;  ///< extra help text: examples, exit statuses
  std::vector<ArgSpec> args;
};

struct GroupSpec {
  std::string_view name;
  std::string_view summary;
};

/// Every command, in the order help lists them.
std::span<const CommandSpec> command_table();
/// The command groups ("sandbox", "template").
std::span<const GroupSpec> command_groups();
/// Options accepted before or after any command (--socket).
std::span<const ArgSpec> global_args();
const CommandSpec& command_spec(CommandId id);

/// Languages accepted by `sandbox run -l`.
inline constexpr std::string_view run_languages[] = {"python", "javascript", "bash"};

/// Values of `sandbox create --isolation`.
inline constexpr std::string_view isolation_modes[] = {"auto", "microvm", "jail"};

inline constexpr std::string_view default_socket_path = "/run/nexus/nexus.sock";

}  // namespace nexus::cli
