// SPDX-License-Identifier: Apache-2.0
// The code interpreter's languages: names as the E2B SDK sends them.
#pragma once

#include <string_view>

#include "common/result.hpp"

namespace nexus::agent {

enum class Language { python, javascript, bash };

/// Normalise a request's language the way the E2B server does (case-insensitive, "js" ->
/// javascript; "" -> python). not_found for languages this agent cannot run, with a
/// message that says which ones it can.
Result<Language> parse_language(std::string_view name);

/// "python", "javascript", "bash".
std::string_view language_name(Language language);

}  // namespace nexus::agent
