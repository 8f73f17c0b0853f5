// SPDX-License-Identifier: Apache-2.0
// The Nexusfile's lexical layer, with Dockerfile's rules: parser directives (`# syntax=`,
// `# escape=`), comments, line continuations, then shell-like words (quotes, the escape
// character, `$VAR` / `${VAR}` / `${VAR:-word}` substitution). nexusfile.hpp builds on it.
// Every error is Errc::invalid_argument (Errc::too_large for a bound) and the lexer's name the
// line ("line 7: ...").
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace nexus::rootfs {

struct NexusfileLimits {
  size_t max_bytes = 1024 * 1024;               ///< the whole file
  size_t max_line_bytes = 64 * 1024;            ///< one physical line
  size_t max_instruction_bytes = 256 * 1024;    ///< one instruction, continuations joined
  size_t max_instructions = 1000;
  size_t max_expansion_bytes = 1024 * 1024;     ///< one word after $VAR substitution
};

/// One instruction: continuations joined, comment lines inside it dropped.
struct LogicalLine {
  int line = 0;         ///< 1-based number of its first physical line
  std::string keyword;  ///< as written ("run", "RUN")
  std::string args;     ///< the rest, leading and trailing blanks trimmed
};

struct LexedNexusfile {
  char escape = '\\';  ///< `\` or `` ` `` (`# escape=`)
  std::string syntax;  ///< the `# syntax=` directive, recorded and otherwise ignored
  std::vector<LogicalLine> lines;
};

Result<LexedNexusfile> lex_nexusfile(std::string_view text, const NexusfileLimits& limits = {});

using EnvMap = std::map<std::string, std::string>;

/// Splits at unquoted blanks, keeping quotes, escapes and `${...}` in each word as written.
Result<std::vector<std::string>> split_raw_words(std::string_view text, char escape);

/// One word's value: quotes removed ('...' literal; "..." with `$` expansion and escapes of
/// `"`, `$` and the escape character only), the escape character outside quotes taking the
/// next character literally, `$NAME`, `${NAME}`, `${NAME:-word}`, `${NAME-word}`,
/// `${NAME:+word}`, `${NAME+word}` from `env` (unset is empty). Blanks are kept, so a whole
/// legacy `ENV K a b` value is one word. Other `${...}` forms are errors.
Result<std::string> expand_word(std::string_view word, char escape, const EnvMap& env,
                                size_t max_bytes = 1024 * 1024);

/// split_raw_words then expand_word on each.
Result<std::vector<std::string>> expand_words(std::string_view text, char escape, const EnvMap& env,
                                              size_t max_bytes = 1024 * 1024);

}  // namespace nexus::rootfs
