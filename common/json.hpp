// SPDX-License-Identifier: Apache-2.0
// JSON: nlohmann-json, with parsing wrapped into Result so no exception escapes.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace nexus {

using Json = nlohmann::json;

/// Serialise without throwing: invalid UTF-8 in strings (which can come from hostile input)
/// becomes U+FFFD. `indent` < 0 gives compact text. Use this instead of Json::dump.
std::string dump_json(const Json& j, int indent = -1);

/// Parse a JSON document; a syntax error becomes Errc::invalid_argument naming the offset.
Result<Json> parse_json(std::string_view text);

/// Read an optional field of a given type from an object; a present field of the wrong type
/// is an error naming the field. Missing -> nullopt-like default (returns `def`).
Result<std::string> json_string(const Json& obj, const char* key, std::string def = {});
Result<long long> json_int(const Json& obj, const char* key, long long def = 0);
Result<bool> json_bool(const Json& obj, const char* key, bool def = false);

}  // namespace nexus
