// SPDX-License-Identifier: Apache-2.0
// From a parsed command line to a Command: the API request to make and how to present it.
// Pure (no I/O but the injected readers), so tests can inspect it without a daemon.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>

#include "cli/command_table.hpp"
#include "cli/parse.hpp"
#include "common/json.hpp"
#include "common/result.hpp"

namespace nexus::cli {

/// One HTTP request to the native API.
struct ApiRequest {
  std::string method = "GET";
  std::string target;           ///< "/v1/sandboxes/sb_x/run"
  std::optional<Json> body;     ///< sent as application/json when set
};

/// What the command needs from its surroundings while it is being built.
struct CommandEnv {
  std::optional<std::string> socket_env;  ///< $NEXUS_SOCKET
  std::function<Result<std::string>()> read_stdin;
  std::function<Result<std::string>(const std::string& path)> read_file;
};

/// A command ready to run.
struct Command {
  CommandId id = CommandId::version;
  std::string socket;       ///< nexusd's socket path
  bool json = false;
  bool quiet = false;
  std::string subject;      ///< the sandbox ID or template name the command is about
  ApiRequest request;
  int timeout_seconds = 0;  ///< run/exec: --timeout, 0 if none
  std::string context_dir;  ///< template build -f: the build context to pack
  bool detach = false;      ///< template build --detach: print the build id, do not follow
  bool all = false;         ///< netpolicy list --all: nexusd's own rules and the defaults too
};

/// Build the Command for an Invocation. Errors are usage errors (Errc::invalid_argument):
/// a missing -c/-f, an unreadable file.
Result<Command> build_command(const Invocation& inv, const CommandEnv& env);

/// Everything main() needs: the Command, or text to print and an exit status.
struct CommandLine {
  std::optional<Command> command;
  int exit_code = 0;
  std::string out;
  std::string err;
};

/// parse_arguments() followed by build_command().
CommandLine parse_command_line(std::span<const std::string> args, const CommandEnv& env);

/// Percent-encode one path segment (IDs and names are put into URLs with this).
std::string encode_path_segment(std::string_view segment);

/// The language for `run` when -l is not given: from the file's extension, else python.
std::string language_for_file(std::string_view path);

}  // namespace nexus::cli
