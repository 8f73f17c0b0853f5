// SPDX-License-Identifier: Apache-2.0
// Serialise JSON without throwing on invalid UTF-8 from hostile input.
#pragma once

#include <string>

#include "common/json.hpp"

namespace nexus::agent {

/// Compact JSON text; invalid UTF-8 in strings becomes U+FFFD instead of throwing.
inline std::string to_json_text(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace nexus::agent
