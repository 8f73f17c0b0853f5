// SPDX-License-Identifier: Apache-2.0
// Tests for common/result.hpp and common/json.hpp.
#include <catch.hpp>

#include "common/json.hpp"
#include "common/result.hpp"

using namespace nexus;

static Result<int> parse_positive(int v) {
  if (v <= 0) return fail(Errc::invalid_argument, "value must be positive");
  return v;
}

static Result<void> chain(int v) {
  NEXUS_TRY(parse_positive(v).map([](int) {}));
  return {};
}

TEST_CASE("errors carry codes and gain context", "[result]") {
  auto r = parse_positive(-1);
  REQUIRE_FALSE(r);
  CHECK(r.error().is(Errc::invalid_argument));
  auto e = r.error();
  e.wrap("reading config");
  CHECK(e.message() == "reading config: value must be positive");
  CHECK_FALSE(chain(0));
  CHECK(chain(3));
  auto en = Error::from_errno(ENOENT, "open '/x'");
  CHECK(en.errno_value() == ENOENT);
  CHECK(en.message() == "open '/x': No such file or directory");
}

TEST_CASE("malformed JSON is an error, not an exception", "[json]") {
  auto bad = parse_json("{\"a\": ");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().is(Errc::invalid_argument));
  auto good = parse_json(R"({"n": 3, "s": "x", "b": true})");
  REQUIRE(good);
  CHECK(json_int(*good, "n").value() == 3);
  CHECK(json_string(*good, "s").value() == "x");
  CHECK(json_bool(*good, "b").value());
  CHECK_FALSE(json_int(*good, "s"));
  CHECK(json_int(*good, "missing", 7).value() == 7);
}

TEST_CASE("deeply nested JSON is refused before it is built", "[json]") {
  // nlohmann's copy and dump recurse: 200000 levels from a hostile kernel crashed the agent.
  std::string deep = std::string(200000, '[') + std::string(200000, ']');
  auto r = parse_json(deep);
  REQUIRE_FALSE(r);
  CHECK(r.error().is(Errc::invalid_argument));
  CHECK(r.error().message().find("deeper") != std::string::npos);
  std::string ok = std::string(128, '[') + std::string(128, ']');
  CHECK(parse_json(ok));
  CHECK_FALSE(parse_json(std::string(129, '{') ));
  // Brackets inside strings do not count; escaped quotes do not end a string.
  std::string in_string = R"({"s": ")" + std::string(1000, '[') + R"(\"[[[", "n": [[1]]})";
  auto s = parse_json(in_string);
  REQUIRE(s);
  CHECK((*s)["n"][0][0] == 1);
}

TEST_CASE("hostile numbers are errors, not crashes", "[json]") {
  // Found by tests/fuzz/fuzz_api_json: 1e400 made nlohmann throw out_of_range.
  auto huge = parse_json(R"({"timeout_seconds": 1e400})");
  REQUIRE_FALSE(huge);
  CHECK(huge.error().is(Errc::invalid_argument));
  auto big = parse_json(R"({"cpus": 1e300, "u": 18446744073709551615, "f": 2.5, "ok": 4.0})");
  REQUIRE(big);
  CHECK_FALSE(json_int(*big, "cpus"));
  CHECK_FALSE(json_int(*big, "u"));
  CHECK_FALSE(json_int(*big, "f"));
  CHECK(json_int(*big, "ok").value() == 4);
}
