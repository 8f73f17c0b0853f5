// SPDX-License-Identifier: Apache-2.0
// Tests for common/strings.hpp.
#include <catch.hpp>

#include "common/strings.hpp"

using namespace nexus;

TEST_CASE("base64 round-trips arbitrary bytes", "[strings]") {
  for (std::string s : {std::string(), std::string("a"), std::string("ab"), std::string("abc"),
                        std::string("\0\xff\x10 binary", 10)}) {
    auto enc = base64_encode(s);
    auto dec = base64_decode(enc);
    REQUIRE(dec.has_value());
    CHECK(*dec == s);
  }
  CHECK(base64_encode("hello") == "aGVsbG8=");
  CHECK(base64_decode("YWJjCg==").value() == "abc\n");
  CHECK(base64_decode("YWJjCg").value() == "abc\n");  // unpadded accepted
  CHECK_FALSE(base64_decode("YW*j").has_value());
  CHECK_FALSE(base64_decode("YQ==YQ").has_value());
}

TEST_CASE("url_decode and parse_query", "[strings]") {
  CHECK(url_decode("a%20b").value() == "a b");
  CHECK_FALSE(url_decode("bad%2").has_value());
  CHECK_FALSE(url_decode("bad%zz").has_value());
  auto q = parse_query("path=%2Ftmp%2Fx&username=user&flag");
  CHECK(q["path"] == "/tmp/x");
  CHECK(q["username"] == "user");
  CHECK(q.count("flag") == 1);
}

TEST_CASE("random identifiers have the requested alphabet and length", "[strings]") {
  auto id = random_base32(20);
  CHECK(id.size() == 20);
  for (char c : id) CHECK(((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')));
  CHECK(random_base32(20) != id);
  CHECK(random_hex(16).size() == 32);
}

TEST_CASE("RFC 3339 formatting", "[strings]") {
  CHECK(format_rfc3339_ms(0) == "1970-01-01T00:00:00.000Z");
  CHECK(format_rfc3339_ms(1700000000123) == "2023-11-14T22:13:20.123Z");
}

TEST_CASE("trim and constant-time comparison", "[strings]") {
  CHECK(trim("  a b\t") == "a b");
  CHECK(trim(" \t ").empty());
  CHECK(trim("x") == "x");
  CHECK(constant_time_equal("abc", "abc"));
  CHECK_FALSE(constant_time_equal("abc", "abd"));
  CHECK_FALSE(constant_time_equal("abc", "ab"));
  CHECK_FALSE(constant_time_equal("", "a"));
  CHECK(constant_time_equal("", ""));
}
