// SPDX-License-Identifier: Apache-2.0
// Template defaults: what a template carries (base, resources, env, working directory, user,
// start command, restart policy) and each sandbox made from it inherits unless its create
// request overrides the field. Validation, JSON and the merge rule live here; the daemon
// applies them. Pure: no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.hpp"
#include "common/result.hpp"

namespace nexus::rootfs {

// Bounds. cpus, memory and ttl are the ones the daemon enforces on a create request
// (daemon/sandbox_manager.cpp) and the CLI documents (cli/command_table.cpp); they are not
// exported from there (and rootfs may not include daemon/), so they are restated here.
inline constexpr int64_t kMinCpus = 1;
inline constexpr int64_t kMaxCpus = 64;
inline constexpr int64_t kMinMemoryMib = 64;
inline constexpr int64_t kMaxMemoryMib = 65536;
inline constexpr int64_t kMinDiskMib = 256;
inline constexpr int64_t kMaxDiskMib = 1024 * 1024;  ///< 1 TiB, sparse
inline constexpr int64_t kMinTtlSeconds = 1;
inline constexpr int64_t kMaxTtlSeconds = 7 * 24 * 3600;
inline constexpr size_t kMaxEnvEntries = 1024;
inline constexpr size_t kMaxEnvValueBytes = 128 * 1024;
inline constexpr size_t kMaxPathBytes = 4096;
inline constexpr size_t kMaxArgvEntries = 4096;
inline constexpr size_t kMaxCommandBytes = 256 * 1024;
inline constexpr int kMaxRestarts = 1000;

/// A command in Dockerfile terms: exec form (an argv, no shell) or shell form (a script for
/// `/bin/sh -c`).
struct Command {
  enum class Form { exec, shell };
  Form form = Form::shell;
  std::vector<std::string> argv;  ///< exec form
  std::string script;             ///< shell form

  static Command exec(std::vector<std::string> argv) { return {Form::exec, std::move(argv), {}}; }
  static Command shell(std::string script) { return {Form::shell, {}, std::move(script)}; }
  /// What to execve: the argv, or {"/bin/sh", "-c", script}.
  std::vector<std::string> to_argv() const;
  bool operator==(const Command&) const = default;
};

enum class RestartPolicy { never, on_failure, always };

struct Restart {
  RestartPolicy policy = RestartPolicy::never;
  /// on-failure only: give up after this many restarts; 0 = no limit (Docker's rule).
  int max_restarts = 0;
  bool operator==(const Restart&) const = default;
};

/// "never", "on-failure", "always".
std::string_view restart_policy_name(RestartPolicy p);
/// "never" | "always" | "on-failure" | "on-failure:N" (Docker's --restart spelling).
Result<Restart> parse_restart(std::string_view text);

/// Every field is optional: unset means "inherit". The same type serves a template's defaults
/// and a create request's overrides.
struct TemplateDefaults {
  std::optional<std::string> base;  ///< "debian:bookworm" or an image reference
  std::optional<int64_t> cpus;
  std::optional<int64_t> memory_mib;
  std::optional<int64_t> disk_mib;
  std::optional<int64_t> ttl_seconds;
  std::map<std::string, std::string> env;  ///< merged key by key, never replaced whole
  std::optional<std::string> workdir;      ///< absolute
  std::optional<std::string> user;         ///< name|uid[:group|gid]
  std::optional<Command> start_command;
  std::optional<Restart> restart;  ///< policy and max_restarts travel together
  bool operator==(const TemplateDefaults&) const = default;
};
using SandboxOverrides = TemplateDefaults;

/// The settings a sandbox runs with: every field decided.
struct EffectiveDefaults {
  std::string base;
  int64_t cpus = 1;
  int64_t memory_mib = 512;
  int64_t disk_mib = 4096;
  int64_t ttl_seconds = 600;
  std::map<std::string, std::string> env;
  std::string workdir = "/";
  std::string user = "root";
  std::optional<Command> start_command;  ///< none: the sandbox starts idle (the agent only)
  Restart restart;
  bool operator==(const EffectiveDefaults&) const = default;
};

/// Errc::invalid_argument naming the first bad field and its allowed range.
Result<void> validate(const TemplateDefaults& d);

/// Per field: the request's value if set, else the template's, else `fallback`'s (the
/// daemon's configured defaults). env: fallback, then template, then request, key by key.
/// Does not validate; validate both inputs first.
EffectiveDefaults merge(const TemplateDefaults& tmpl, const SandboxOverrides& request,
                        const EffectiveDefaults& fallback = {});

/// JSON object with only the set fields:
/// {"base", "cpus", "memory_mib", "disk_mib", "ttl_seconds", "env": {..}, "workdir", "user",
///  "start_command": ["argv", ..] | "shell script", "restart": {"policy", "max_restarts"}}
Json to_json(const TemplateDefaults& d);
/// The inverse; wrong types and unknown keys are errors naming the key. Does not validate
/// ranges (call validate()).
Result<TemplateDefaults> template_defaults_from_json(const Json& j);

/// Helpers shared with the Nexusfile parser.
bool is_valid_env_key(std::string_view key);
/// `name|uid[:group|gid]`: names are [A-Za-z_][A-Za-z0-9._-]* up to 32 bytes, ids 0..65535
/// (the user namespace maps 65536 ids).
Result<void> validate_user_spec(std::string_view user);

}  // namespace nexus::rootfs
