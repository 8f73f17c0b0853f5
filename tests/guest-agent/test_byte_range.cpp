// SPDX-License-Identifier: Apache-2.0
// Range headers of /files downloads.
#include <catch.hpp>

#include "guest-agent/byte_range.hpp"

using nexus::agent::ByteRange;
using nexus::agent::parse_byte_range;
using Kind = ByteRange::Kind;

TEST_CASE("one byte range is partial, clamped to the file", "[range]") {
  auto r = parse_byte_range("bytes=10-19", 1000);
  CHECK(r.kind == Kind::partial);
  CHECK(r.start == 10);
  CHECK(r.length == 10);
  r = parse_byte_range("bytes=990-5000", 1000);  // past the end: up to the last byte
  CHECK(r.kind == Kind::partial);
  CHECK(r.length == 10);
  r = parse_byte_range("bytes=500-", 1000);
  CHECK((r.kind == Kind::partial && r.start == 500 && r.length == 500));
  r = parse_byte_range("bytes=-100", 1000);  // the last 100 bytes
  CHECK((r.kind == Kind::partial && r.start == 900 && r.length == 100));
  r = parse_byte_range("bytes=-5000", 1000);  // more than the file: all of it
  CHECK((r.kind == Kind::partial && r.start == 0 && r.length == 1000));
  r = parse_byte_range(" Bytes = 0-0 ", 1);
  CHECK((r.kind == Kind::whole || (r.kind == Kind::partial && r.length == 1)));
  r = parse_byte_range("bytes=0-0", 1);
  CHECK((r.kind == Kind::partial && r.start == 0 && r.length == 1));
}

TEST_CASE("ranges that cannot be met are unsatisfiable", "[range]") {
  CHECK(parse_byte_range("bytes=1000-", 1000).kind == Kind::unsatisfiable);
  CHECK(parse_byte_range("bytes=2000-3000", 1000).kind == Kind::unsatisfiable);
  CHECK(parse_byte_range("bytes=-0", 1000).kind == Kind::unsatisfiable);
  CHECK(parse_byte_range("bytes=0-", 0).kind == Kind::unsatisfiable);
  CHECK(parse_byte_range("bytes=-10", 0).kind == Kind::unsatisfiable);
}

TEST_CASE("what is not one valid byte range gets the whole file", "[range]") {
  for (auto h : {"", "bytes=", "bytes=a-b", "bytes=5-2", "items=0-1", "bytes=0-1,5-6", "bytes 0-1",
                 "bytes=--1", "bytes=1-2-3", "bytes=18446744073709551616-", "bytes=-"}) {
    INFO(h);
    CHECK(parse_byte_range(h, 1000).kind == Kind::whole);
  }
}
