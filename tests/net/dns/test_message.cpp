// SPDX-License-Identifier: Apache-2.0
// Query validation against hostile input: what a sandbox may send, and what is refused.
#include <catch.hpp>

#include "dns_test_util.hpp"
#include "net/dns/message.hpp"

using namespace nexus;
using namespace nexus::net::dns;
using dnstest::Builder;

namespace {

std::string why(std::span<const uint8_t> m, Transport t = Transport::udp) {
  auto q = parse_query(m, t);
  return q ? std::string("accepted") : q.error().message();
}

}  // namespace

TEST_CASE("a stub resolver's query is accepted and read", "[dns][query]") {
  // What dig sends: RD, one question, an OPT record with a 1232-byte UDP size.
  auto m = Builder().header(0xbeef, 0x0120, 1, 0, 0, 1).question("WwW.Example.COM", 28).opt(1232).done();
  auto q = parse_query(m, Transport::udp);
  REQUIRE(q);
  CHECK(q->id == 0xbeef);
  CHECK(q->question.name == std::string("\3www\7example\3com\0", 17));  // lowercased
  CHECK(q->question.type == 28);
  CHECK(q->question.klass == 1);
  CHECK(q->has_edns);
  CHECK(q->max_udp_answer == 1232);
  CHECK(get16(m, q->edns_size_offset) == 1232);
  CHECK(q->question_end == 12 + 17 + 4);

  auto plain = parse_query(dnstest::query("a.test"), Transport::udp);
  REQUIRE(plain);
  CHECK_FALSE(plain->has_edns);
  CHECK(plain->max_udp_answer == 512);
  // EDNS sizes are held to 512-4096.
  auto huge = parse_query(Builder().header(1, 0x0100, 1, 0, 0, 1).question("a.test").opt(65000).done(), Transport::udp);
  REQUIRE(huge);
  CHECK(huge->max_udp_answer == 4096);
  // The root name is a valid question (". NS").
  CHECK(why(Builder().header(1, 0, 1, 0, 0, 0).u8(0).u16(2).u16(1).done()) == "accepted");
}

TEST_CASE("truncated and oversized queries are refused", "[dns][query]") {
  auto m = dnstest::query("a.test");
  for (size_t n = 0; n < m.size(); ++n) {
    INFO("cut at " << n);
    CHECK_FALSE(parse_query(std::span<const uint8_t>(m.data(), n), Transport::udp));
  }
  CHECK_THAT(why(std::span<const uint8_t>(m.data(), 11)), Catch::Contains("shorter than the 12-byte header"));
  CHECK_THAT(why(std::span<const uint8_t>(m.data(), 16)), Catch::Contains("label runs past the end"));
  CHECK_THAT(why(std::span<const uint8_t>(m.data(), 20)), Catch::Contains("type and class run past the end"));

  // 600 bytes without EDNS is over 512 on UDP, fine on TCP.
  Builder big;
  big.header(1, 0x0100, 1, 0, 0, 1).question("a.test").u8(0).u16(250).u16(1).u32(0);
  size_t pad = 600 - big.b.size() - 2;
  big.u16(static_cast<uint16_t>(pad));
  big.b.resize(big.b.size() + pad, 0);
  CHECK_THAT(why(big.b), Catch::Contains("larger than 512"));
  CHECK(why(big.b, Transport::tcp) == "accepted");
  // With EDNS 1232 the same size passes UDP, 1300 bytes does not.
  Builder edns;
  edns.header(1, 0x0100, 1, 0, 0, 2).question("a.test").opt(1232).u8(0).u16(250).u16(1).u32(0);
  pad = 1300 - edns.b.size() - 2;
  edns.u16(static_cast<uint16_t>(pad));
  edns.b.resize(edns.b.size() + pad, 0);
  CHECK_THAT(why(edns.b), Catch::Contains("larger than 1232"));
  std::vector<uint8_t> jumbo(5000, 0);
  CHECK_THAT(why(jumbo), Catch::Contains("larger than 4096"));
}

TEST_CASE("header fields a query must not have", "[dns][query]") {
  CHECK_THAT(why(Builder().header(1, 0x8100, 1, 0, 0, 0).question("a.test").done()), Catch::Contains("QR=1"));
  CHECK_THAT(why(Builder().header(1, 0x2800, 1, 0, 0, 0).question("a.test").done()), Catch::Contains("opcode 5"));
  CHECK_THAT(why(Builder().header(1, 0x1000, 1, 0, 0, 0).question("a.test").done()), Catch::Contains("opcode 2"));
  CHECK_THAT(why(Builder().header(1, 0x0100, 0, 0, 0, 0).done()), Catch::Contains("QDCOUNT 0"));
  CHECK_THAT(why(Builder().header(1, 0x0100, 2, 0, 0, 0).question("a.test").question("b.test").done()),
             Catch::Contains("QDCOUNT 2"));
  CHECK_THAT(why(Builder().header(1, 0x0100, 65535, 0, 0, 0).question("a.test").done()), Catch::Contains("QDCOUNT 65535"));
  CHECK_THAT(why(Builder().header(1, 0x0100, 1, 1, 0, 0).question("a.test").done()), Catch::Contains("answer"));
  CHECK_THAT(why(Builder().header(1, 0x0100, 1, 0, 0, 65535).question("a.test").done()),
             Catch::Contains("65535 additional records"));
  CHECK_THAT(why(Builder().header(1, 0x0100, 1, 0, 0, 2).question("a.test").opt(1232).opt(1232).done()),
             Catch::Contains("two OPT"));
  CHECK_THAT(why(Builder().header(1, 0x0100, 1, 0, 0, 0).question("a.test").u8(0).done()),
             Catch::Contains("1 bytes after the last record"));
  CHECK_THAT(why(Builder().header(1, 0x0100, 1, 0, 0, 0).question("a.test", 41).done()), Catch::Contains("type OPT"));
  // An additional record that claims more data than there is.
  CHECK_THAT(why(Builder().header(1, 0x0100, 1, 0, 0, 1).question("a.test").u8(0).u16(41).u16(512).u32(0).u16(100).done()),
             Catch::Contains("runs past the end"));
}

TEST_CASE("bad labels in the question", "[dns][query]") {
  // 64 is not a length: its top bits 01 are the reserved extended label type.
  CHECK_THAT(why(Builder().header(1, 0, 1, 0, 0, 0).u8(64).done()), Catch::Contains("reserved label type 0x40"));
  CHECK_THAT(why(Builder().header(1, 0, 1, 0, 0, 0).u8(0x80).u8(1).u8(0).u16(1).u16(1).done()),
             Catch::Contains("reserved label type 0x80"));
  // A pointer (here to the header) has no place in a query's question.
  CHECK_THAT(why(Builder().header(1, 0, 1, 0, 0, 0).pointer(0).u16(1).u16(1).done()), Catch::Contains("compression pointer"));
  // Five labels of 63 octets: 321 octets, over 255.
  std::string label(63, 'x');
  CHECK_THAT(why(Builder().header(1, 0, 1, 0, 0, 0).question(label + "." + label + "." + label + "." + label + "." + label).done()),
             Catch::Contains("longer than 255"));
  // Three labels of 63 and one of 61: 3*64 + 62 + 1 = 255 octets, the most there may be.
  std::string fits = label + "." + label + "." + label + "." + std::string(61, 'y');
  CHECK(why(Builder().header(1, 0, 1, 0, 0, 0).question(fits).done()) == "accepted");
  CHECK_THAT(why(Builder().header(1, 0, 1, 0, 0, 0).question(fits + "z").done()), Catch::Contains("longer than 255"));
  // Bytes a name has no use for.
  for (uint8_t c : {uint8_t{0}, uint8_t{' '}, uint8_t{'\n'}, uint8_t{0x7f}, uint8_t{0xff}}) {
    auto m = Builder().header(1, 0, 1, 0, 0, 0).u8(3).u8('a').u8(c).u8('b').u8(0).u16(1).u16(1).done();
    CHECK_THAT(why(m), Catch::Contains("printable ASCII only"));
  }
}

TEST_CASE("compressed names are read without loops", "[dns][names]") {
  // A pointer to itself, right after the header.
  auto self = Builder().header(1, 0x8000, 1, 0, 0, 0).pointer(12).done();
  size_t off = 12;
  std::string out;
  auto r = read_name(self, off, &out);
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message(), Catch::Contains("does not point backwards"));

  // Two names pointing at each other: A at 12 -> B at 16, B -> A.
  auto pair = Builder().header(1, 0, 0, 0, 0, 0).u8(1).u8('a').pointer(16).u8(1).u8('b').pointer(12).done();
  off = 16;
  CHECK_FALSE(read_name(pair, off, &out));
  off = 12;
  CHECK_FALSE(read_name(pair, off, &out));

  // A pointer into the middle of its own name, after the labels it passed.
  auto inner = Builder().header(1, 0, 0, 0, 0, 0).u8(1).u8('a').u8(1).u8('b').pointer(14).done();
  off = 12;
  CHECK_FALSE(read_name(inner, off, &out));

  // A chain of 100 pointers, each to the one before: finite, but past the jump bound.
  Builder chain;
  chain.header(1, 0, 0, 0, 0, 0).u8(0);
  for (int i = 0; i < 100; ++i) chain.pointer(static_cast<uint16_t>(12 + (i == 0 ? 0 : 1 + 2 * (i - 1))));
  off = chain.b.size() - 2;
  r = read_name(chain.b, off, &out);
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message(), Catch::Contains("too many compression pointers"));

  // A proper pointer: "b.a." via "b" + pointer to "a".
  auto good = Builder().header(1, 0, 0, 0, 0, 0).u8(1).u8('A').u8(0).u8(1).u8('B').pointer(12).u8(0xEE).done();
  off = 15;
  REQUIRE(read_name(good, off, &out));
  CHECK(out == std::string("\1b\1a\0", 5));
  CHECK(off == 19);  // past the pointer, not past the target
  CHECK(name_to_text(out) == "b.a.");
  // Case kept when asked.
  off = 15;
  REQUIRE(read_name(good, off, &out, false));
  CHECK(out == std::string("\1B\1A\0", 5));

  // A pointer cut in half, a label past the end.
  auto cut = Builder().header(1, 0, 0, 0, 0, 0).u8(0xC0).done();
  off = 12;
  CHECK_FALSE(read_name(cut, off, &out));
  auto past = Builder().header(1, 0, 0, 0, 0, 0).u8(10).u8('a').done();
  off = 12;
  CHECK_FALSE(read_name(past, off, &out));
}

TEST_CASE("answer heads, error answers, names", "[dns][answer]") {
  auto q = dnstest::query("Rebind.Test", 1, 0x7777);
  auto parsed = parse_query(q, Transport::udp);
  REQUIRE(parsed);
  CHECK_FALSE(parse_response_head(q));  // a query is not an answer

  auto refused = make_error_response(q, *parsed, rcode::refused);
  auto head = parse_response_head(refused);
  REQUIRE(head);
  CHECK(head->id == 0x7777);
  CHECK(head->rcode == rcode::refused);
  CHECK(head->question == parsed->question);
  CHECK(get16(refused, 2) == (0x8000 | 0x0100 | 0x0080 | 5));
  CHECK(get16(refused, 6) == 0);
  CHECK(refused.size() == parsed->question_end);

  auto tc = make_truncated(refused, head->question_end);
  auto tch = parse_response_head(tc);
  REQUIRE(tch);
  CHECK(tch->truncated);

  CHECK(*encode_name("Corp.Example.") == std::string("\4corp\7example\0", 14));
  CHECK(*encode_name(".") == std::string("\0", 1));
  CHECK_FALSE(encode_name("a..b"));
  CHECK_FALSE(encode_name(std::string(64, 'x')));
  auto corp = *encode_name("corp.example");
  CHECK(name_within(*encode_name("db.corp.example"), corp));
  CHECK(name_within(corp, corp));
  CHECK_FALSE(name_within(*encode_name("xcorp.example"), corp));
  CHECK_FALSE(name_within(*encode_name("example"), corp));
  CHECK(name_within(*encode_name("anything.at.all"), *encode_name(".")));
}
