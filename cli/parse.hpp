// SPDX-License-Identifier: Apache-2.0
// Command-line parsing: the CLI11 app built from the command table, giving an Invocation.
#pragma once

#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cli/command_table.hpp"

namespace nexus::cli {

/// A parsed command line: which command, and the raw values of the arguments given.
struct Invocation {
  CommandId id = CommandId::version;
  /// ArgSpec::key -> the values given (one per occurrence; flags hold one entry per use).
  std::map<std::string, std::vector<std::string>, std::less<>> values;

  bool has(std::string_view key) const { return values.find(key) != values.end(); }
  /// The last value given for `key`, or `def`.
  std::string get(std::string_view key, std::string def = {}) const;
  /// All values given for `key` (empty if none).
  const std::vector<std::string>& list(std::string_view key) const;
};

/// Either an Invocation to carry out, or text to print and an exit status (help, --version,
/// usage errors).
struct ParseOutcome {
  std::optional<Invocation> invocation;
  int exit_code = 0;
  std::string out;  ///< for stdout (help, version)
  std::string err;  ///< for stderr (usage errors)
};

/// Parse the arguments after argv[0].
ParseOutcome parse_arguments(std::span<const std::string> args);

}  // namespace nexus::cli
