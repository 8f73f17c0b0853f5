// SPDX-License-Identifier: Apache-2.0
// Language name parsing.
#include "guest-agent/interpreter_language.hpp"

#include <cctype>
#include <string>

#include <fmt/format.h>

namespace nexus::agent {

namespace {

constexpr std::string_view kSupported = "python, javascript (js), bash";

}  // namespace

Result<Language> parse_language(std::string_view name) {
  std::string n;
  for (char c : name) n += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!n.empty() && std::isspace(static_cast<unsigned char>(n.back()))) n.pop_back();
  while (!n.empty() && std::isspace(static_cast<unsigned char>(n.front()))) n.erase(0, 1);
  if (n.empty() || n == "python" || n == "python3") return Language::python;
  if (n == "javascript" || n == "js") return Language::javascript;
  if (n == "bash") return Language::bash;
  if (n == "typescript" || n == "ts" || n == "r" || n == "java") {
    std::string canonical = n == "ts" ? "typescript" : n;
    return fail(Errc::not_found,
                fmt::format("Language '{}' is not supported by this sandbox (supported: {})",
                            canonical, kSupported));
  }
  return fail(Errc::not_found,
              fmt::format("Unknown language '{}' (supported: {})", std::string(name), kSupported));
}

std::string_view language_name(Language language) {
  switch (language) {
    case Language::python: return "python";
    case Language::javascript: return "javascript";
    case Language::bash: return "bash";
  }
  return "python";
}

}  // namespace nexus::agent
