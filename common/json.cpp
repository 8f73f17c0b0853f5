// SPDX-License-Identifier: Apache-2.0
// JSON helpers.
#include "common/json.hpp"

#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace nexus {

std::string dump_json(const Json& j, int indent) {
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

namespace {

// nlohmann's copy, dump and comparison recurse: a value nested deeper than this (sent by a
// client, or written by hostile sandbox code) is refused before it is built.
constexpr size_t kMaxJsonDepth = 128;

bool too_deep(std::string_view text) {
  size_t depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

}  // namespace

Result<Json> parse_json(std::string_view text) {
  if (too_deep(text)) return fail(Errc::invalid_argument, fmt::format("JSON nested deeper than {} levels", kMaxJsonDepth));
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    return fail(Errc::invalid_argument, fmt::format("malformed JSON at byte {}", e.byte));
  } catch (const Json::exception& e) {
    // e.g. out_of_range for a number like 1e400: still the client's malformed input.
    return fail(Errc::invalid_argument, fmt::format("malformed JSON: {}", e.what()));
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
  if (it->is_number_unsigned()) {
    auto u = it->get<unsigned long long>();
    if (u <= static_cast<unsigned long long>(std::numeric_limits<long long>::max())) return static_cast<long long>(u);
  } else if (it->is_number_integer()) {
    return it->get<long long>();
  } else if (it->is_number_float()) {
    // Range-check before converting: casting an out-of-range double is undefined behaviour.
    double d = it->get<double>();
    if (std::isfinite(d) && d >= -9.2e18 && d <= 9.2e18 && d == std::trunc(d)) return static_cast<long long>(d);
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
