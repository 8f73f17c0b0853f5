// SPDX-License-Identifier: Apache-2.0
// Tests for Connect envelope framing and error bodies.
#include <catch.hpp>

#include "common/json.hpp"
#include "common/connect_envelope.hpp"


using namespace nexus;
using namespace nexus::connectrpc;

TEST_CASE("envelopes encode with a big-endian length prefix", "[envelope]") {
  auto e = encode_envelope(0, "{\"event\":{\"start\":{\"pid\":42}}}");
  REQUIRE(e.size() == 5 + 30);
  CHECK(e.substr(0, 5) == std::string("\x00\x00\x00\x00\x1e", 5));
  auto end = encode_envelope(kEnvelopeEndStream, "{}");
  CHECK(end == std::string("\x02\x00\x00\x00\x02{}", 7));
  std::string big(70000, 'x');
  auto b = encode_envelope(0, big);
  CHECK(b.substr(0, 5) == std::string("\x00\x00\x01\x11\x70", 5));
}

TEST_CASE("single request envelopes are validated", "[envelope]") {
  auto ok = decode_single_envelope(encode_envelope(0, "{\"a\":1}"), 1024);
  REQUIRE(ok);
  CHECK(ok->payload == "{\"a\":1}");
  auto empty = decode_single_envelope(encode_envelope(0, ""), 1024);
  REQUIRE(empty);
  CHECK(empty->payload.empty());

  CHECK_FALSE(decode_single_envelope("", 1024));
  CHECK_FALSE(decode_single_envelope(std::string("\x00\x00\x00", 3), 1024));
  auto truncated = encode_envelope(0, "{\"a\":1}");
  truncated.pop_back();
  CHECK_FALSE(decode_single_envelope(truncated, 1024));
  CHECK_FALSE(decode_single_envelope(encode_envelope(0, "{}") + "x", 1024));
  CHECK_FALSE(decode_single_envelope(encode_envelope(kEnvelopeCompressed, "{}"), 1024));
  auto oversized = decode_single_envelope(std::string("\x00\xff\xff\xff\xff", 5), 1024);
  REQUIRE_FALSE(oversized);
  CHECK(oversized.error().is(Errc::too_large));
  CHECK_FALSE(decode_single_envelope(encode_envelope(0, std::string(2000, 'x')), 1024));
}

TEST_CASE("the envelope reader handles arbitrary splits", "[envelope]") {
  std::string stream = encode_envelope(0, "one") + encode_envelope(0, "") +
                       encode_envelope(kEnvelopeEndStream, "{}");
  for (size_t step = 1; step <= stream.size(); ++step) {
    EnvelopeReader r(1024);
    std::vector<Envelope> got;
    for (size_t i = 0; i < stream.size(); i += step) {
      r.feed(std::string_view(stream).substr(i, step));
      for (;;) {
        auto n = r.next();
        REQUIRE(n);
        if (!*n) break;
        got.push_back(std::move(**n));
      }
    }
    REQUIRE(got.size() == 3);
    CHECK(got[0].payload == "one");
    CHECK(got[1].payload.empty());
    CHECK(got[2].flags == kEnvelopeEndStream);
    CHECK(r.finish());
  }
  EnvelopeReader partial(1024);
  partial.feed(std::string("\x00\x00\x00\x00\x05he", 7));
  auto n = partial.next();
  REQUIRE(n);
  CHECK_FALSE(n->has_value());
  CHECK_FALSE(partial.finish());
  EnvelopeReader huge(16);
  huge.feed(std::string("\x00\x00\x00\x01\x00", 5));
  CHECK_FALSE(huge.next());
}

TEST_CASE("a stream split at any byte boundary decodes the same", "[connect]") {
  std::string stream = encode_envelope(0, R"({"event":{"start":{"pid":42}}})") +
                       encode_envelope(kEnvelopeEndStream, "{}");
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    EnvelopeReader r(1024);
    std::vector<Envelope> out;
    for (auto part : {std::string_view(stream).substr(0, cut), std::string_view(stream).substr(cut)}) {
      r.feed(part);
      while (true) {
        auto e = r.next();
        REQUIRE(e);
        if (!*e) break;
        out.push_back(std::move(**e));
      }
    }
    REQUIRE(out.size() == 2);
    CHECK(out[0].payload == R"({"event":{"start":{"pid":42}}})");
    CHECK(out[1].flags == kEnvelopeEndStream);
    CHECK(r.finish());
  }
}

TEST_CASE("hostile streamed envelopes are refused", "[connect]") {
  EnvelopeReader big(1024);
  big.feed(std::string("\x00\x7f\xff\xff\xff", 5));
  auto r = big.next();
  REQUIRE_FALSE(r);
  CHECK(r.error().is(Errc::too_large));
  EnvelopeReader compressed(1024);
  compressed.feed(std::string("\x01\x00\x00\x00\x00", 5));
  CHECK_FALSE(compressed.next());
  EnvelopeReader unknown(1024);
  unknown.feed(std::string("\x80\x00\x00\x00\x00", 5));
  CHECK_FALSE(unknown.next());
  EnvelopeReader truncated(1024);
  truncated.feed(std::string("\x00\x00\x00\x00\x05{}", 7));
  auto none = truncated.next();
  REQUIRE(none);
  CHECK_FALSE(*none);
  CHECK_FALSE(truncated.finish());
}
