// SPDX-License-Identifier: Apache-2.0
// Fuzz nexus::parse_json and the json_string/json_int/json_bool field accessors.
#include <string>
#include <string_view>

#include "common/json.hpp"
#include "tests/fuzz/fuzz.hpp"

namespace {

// Field names the API server, the agent and the CLI read with the accessors.
constexpr const char* kKeys[] = {
    "template", "name", "user", "cwd", "code", "language", "defaultUser", "defaultWorkdir",
    "accessToken", "message", "ttl_seconds", "timeout_seconds", "memory_mib", "cpus", "stdin",
    "", "envs", "process", "cmd", "args",
};

void read_fields(const nexus::Json& obj) {
  for (const char* key : kKeys) {
    auto s = nexus::json_string(obj, key, "default");
    auto i = nexus::json_int(obj, key, -1);
    auto b = nexus::json_bool(obj, key, true);
    bool present = obj.is_object() && obj.contains(key) && !obj.at(key).is_null();
    if (!present) {
      FUZZ_CHECK(s && *s == "default");
      FUZZ_CHECK(i && *i == -1);
      FUZZ_CHECK(b && *b);
      continue;
    }
    const nexus::Json& v = obj.at(key);
    FUZZ_CHECK(static_cast<bool>(s) == v.is_string());
    FUZZ_CHECK(static_cast<bool>(b) == v.is_boolean());
    if (v.is_number_integer()) FUZZ_CHECK(static_cast<bool>(i));
    if (!v.is_number()) FUZZ_CHECK(!i);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parsed = nexus::parse_json(nexus::fuzz::as_view(data, size));
  if (!parsed) {
    FUZZ_CHECK(parsed.error().is(nexus::Errc::invalid_argument));
    return 0;
  }
  const nexus::Json& j = *parsed;
  read_fields(j);
  // Nested objects are read the same way (e.g. the agent's "process" object).
  if (j.is_object())
    for (const auto& [key, value] : j.items())
      if (value.is_object()) read_fields(value);
  if (j.is_array())
    for (const auto& value : j)
      if (value.is_object()) read_fields(value);
  // What was parsed serialises and parses back to the same value.
  auto again = nexus::parse_json(j.dump());
  FUZZ_CHECK(again && *again == j);
  return 0;
}
