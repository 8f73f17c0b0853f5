// SPDX-License-Identifier: Apache-2.0
// JSON helpers.
#include "common/json.hpp"

#include <fmt/format.h>

namespace nexus {

Result<Json> parse_json(std::string_view text) {
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    return fail(Errc::invalid_argument, fmt::format("malformed JSON at byte {}", e.byte));
  }
}

Result<std::string> json_string(const Json& obj, const char* key, std::string def) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return def;
  if (!it->is_string()) return fail(Errc::invalid_argument, fmt::format("field '{}' must be a string", key));
  return it->get<std::string>();
}

Result<long long> json_int(const Json& obj, const char* key, long long def) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return def;
  if (it->is_number_integer()) return it->get<long long>();
  if (it->is_number_float()) {
    double d = it->get<double>();
    if (d == static_cast<double>(static_cast<long long>(d))) return static_cast<long long>(d);
  }
  return fail(Errc::invalid_argument, fmt::format("field '{}' must be an integer", key));
}

Result<bool> json_bool(const Json& obj, const char* key, bool def) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return def;
  if (!it->is_boolean()) return fail(Errc::invalid_argument, fmt::format("field '{}' must be a boolean", key));
  return it->get<bool>();
}

}  // namespace nexus
