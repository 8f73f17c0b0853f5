// SPDX-License-Identifier: Apache-2.0
// `nexus completion SHELL` (prints the script) and the hidden `nexus __complete KIND`
// (the values the scripts ask nexusd for). Both are handled before the parser: they are not
// in the command table, so `nexus --help` is the table's alone.
#include <signal.h>
#include <unistd.h>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/completion.hpp"
#include "cli/exit_codes.hpp"

namespace nexus::cli {

namespace {

constexpr const char* completion_usage =
    "Print the completion script for a shell\n"
    "Usage: nexus completion SHELL\n"
    "\n"
    "SHELL is bash, zsh or fish. Packages install the scripts; to load one by hand:\n"
    "  bash:  source <(nexus completion bash)\n"
    "  zsh:   nexus completion zsh > ~/.zfunc/_nexus   (with ~/.zfunc in $fpath, before\n"
    "         compinit), or source <(nexus completion zsh) after compinit\n"
    "  fish:  nexus completion fish | source\n";

/// A shell waits for __complete at every Tab: a nexusd that accepts but does not answer
/// must not hang it. Past the deadline the process ends quietly (nothing printed, exit 0).
constexpr unsigned complete_deadline_seconds = 2;

extern "C" void complete_deadline_passed(int) { _exit(exit_ok); }

int run_completion(std::span<const std::string> args, const Console& console) {
  if (args.size() == 2 && (args[1] == "-h" || args[1] == "--help")) {
    console.out(completion_usage);
    return exit_ok;
  }
  if (args.size() != 2) {
    console.err("nexus: completion: give one shell: bash, zsh or fish\n"
                "Run 'nexus completion --help' for usage.\n");
    return exit_usage;
  }
  auto script = completion_script(args[1]);
  if (!script) {
    console.err(fmt::format("nexus: completion: unknown shell '{}' (valid: bash, zsh, fish)\n",
                            args[1]));
    return exit_usage;
  }
  console.out(*script);
  return exit_ok;
}

int run_complete(std::span<const std::string> args, const Console& console,
                 const CommandEnv& env) {
  if (args.size() < 2) return exit_usage;
  const std::string& kind = args[1];
  auto target = completion_values_target(kind);
  if (!target) return exit_usage;
  bool describe = false;
  std::string socket = env.socket_env && !env.socket_env->empty()
                           ? *env.socket_env
                           : std::string(default_socket_path);
  for (size_t i = 2; i < args.size(); ++i) {
    if (args[i] == "--describe") {
      describe = true;
    } else if (args[i] == "--socket" && i + 1 < args.size()) {
      socket = args[++i];
    } else if (args[i].starts_with("--socket=")) {
      socket = args[i].substr(9);
    } else {
      return exit_usage;
    }
  }

  struct sigaction deadline {};
  struct sigaction previous {};
  deadline.sa_handler = complete_deadline_passed;
  ::sigaction(SIGALRM, &deadline, &previous);
  unsigned earlier = ::alarm(complete_deadline_seconds);
  auto answer = ApiClient(socket).call({"GET", *target, std::nullopt});
  ::alarm(earlier);
  ::sigaction(SIGALRM, &previous, nullptr);

  if (answer) console.out(completion_value_lines(kind, *answer, describe));
  return exit_ok;  // an unreachable nexusd completes nothing, quietly
}

}  // namespace

std::optional<int> run_completion_command(std::span<const std::string> args,
                                          const Console& console, const CommandEnv& env) {
  if (args.empty()) return std::nullopt;
  if (args[0] == "completion") return run_completion(args, console);
  if (args[0] == "__complete") return run_complete(args, console, env);
  return std::nullopt;
}

}  // namespace nexus::cli
