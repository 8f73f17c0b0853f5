// SPDX-License-Identifier: Apache-2.0
// Rebinding protection on real answers captured from Debian's dnsmasq 2.90 (a hosts file
// giving mixed.test public and private addresses, alias.test a CNAME to it) and on answers
// built by hand, hostile ones included.
#include <catch.hpp>

#include "dns_test_util.hpp"
#include "net/dns/rebind_filter.hpp"

using namespace nexus;
using namespace nexus::net::dns;
using dnstest::Builder;
using dnstest::from_hex;
using dnstest::records;
using Strings = std::vector<std::string>;

namespace {

// dnsmasq --addn-hosts (198.51.100.7, 10.1.2.3, 169.254.169.254, 2001:db8::7, fd00::1,
// ::ffff:127.0.0.1 for mixed.test) --cname=alias.test,mixed.test --address=/a.test/198.51.100.7
const auto kMixedA = from_hex(
    "123485800001000300000000056d6978656404746573740000010001c00c000100010000000000040a010203c00c00010001"
    "000000000004c6336407c00c00010001000000000004a9fea9fe");
const auto kMixedAaaa = from_hex(
    "123485800001000300000000056d69786564047465737400001c0001c00c001c0001000000000010fd0000000000000000000000"
    "00000001c00c001c000100000000001020010db8000000000000000000000007c00c001c000100000000001000000000000000000000"
    "ffff7f000001");
// The CNAME's target is written out inside its rdata (offset 40); the A records point there.
const auto kAliasA = from_hex(
    "12348580000100040000000005616c69617304746573740000010001c00c0005000100000000000c056d69786564047465737400"
    "c02800010001000000000004c6336407c02800010001000000000004a9fea9fec028000100010000000000040a010203");
const auto kPublicA = from_hex("123485800001000100000000016104746573740000010001c00c00010001000000000004c6336407");

}  // namespace

TEST_CASE("private IPv4 and IPv6 ranges", "[dns][rebind]") {
  auto v4 = [](uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    const uint8_t x[4] = {a, b, c, d};
    return is_private_v4(x);
  };
  CHECK(v4(10, 88, 0, 1));
  CHECK(v4(127, 0, 0, 53));
  CHECK(v4(169, 254, 169, 254));
  CHECK(v4(172, 16, 0, 1));
  CHECK(v4(172, 31, 255, 255));
  CHECK_FALSE(v4(172, 32, 0, 1));
  CHECK(v4(192, 168, 1, 1));
  CHECK(v4(100, 64, 0, 1));
  CHECK_FALSE(v4(100, 128, 0, 1));
  CHECK(v4(0, 0, 0, 0));
  CHECK(v4(255, 255, 255, 255));
  CHECK(v4(224, 0, 0, 251));
  CHECK_FALSE(v4(198, 51, 100, 7));
  CHECK_FALSE(v4(8, 8, 8, 8));
  CHECK_FALSE(v4(1, 1, 1, 1));

  auto priv6 = [&](std::initializer_list<uint8_t> bytes) {
    uint8_t x[16] = {};
    size_t i = 0;
    for (uint8_t b : bytes) x[i++] = b;
    return is_private_v6(x);
  };
  CHECK(priv6({}));                                                   // ::
  CHECK(priv6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}));       // ::1
  CHECK(priv6({0xfd, 0x4e, 0x78}));                                   // the sandbox pool
  CHECK(priv6({0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54}));  // EC2 metadata
  CHECK(priv6({0xfe, 0x80}));
  CHECK(priv6({0xff, 0x02}));
  CHECK(priv6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1}));  // ::ffff:10.0.0.1
  CHECK(priv6({0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 169, 254, 169, 254}));  // NAT64 of metadata
  CHECK_FALSE(priv6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 51, 100, 7}));
  CHECK_FALSE(priv6({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7}));
  CHECK_FALSE(priv6({0x26, 0x06, 0x47, 0x00}));
}

TEST_CASE("private A records leave a real dnsmasq answer, public ones stay", "[dns][rebind]") {
  REQUIRE(records(kMixedA) == Strings{"mixed.test. A 10.1.2.3", "mixed.test. A 198.51.100.7", "mixed.test. A 169.254.169.254"});
  auto r = strip_private_answers(kMixedA, {});
  REQUIRE(r);
  CHECK(r->removed == 2);
  CHECK(records(r->message) == Strings{"mixed.test. A 198.51.100.7"});
  CHECK(get16(r->message, 0) == 0x1234);
  CHECK(get16(r->message, 2) == get16(kMixedA, 2));  // flags and rcode untouched
  CHECK(get16(r->message, 6) == 1);
  CHECK(r->message.size() < kMixedA.size());
}

TEST_CASE("private AAAA records, IPv4-mapped loopback included, are removed", "[dns][rebind]") {
  auto r = strip_private_answers(kMixedAaaa, {});
  REQUIRE(r);
  CHECK(r->removed == 2);
  CHECK(records(r->message) == Strings{"mixed.test. AAAA 2001:db8:0:0:0:0:0:7"});
}

TEST_CASE("a CNAME chain keeps its names when records before them go", "[dns][rebind]") {
  // The A records' owner names point into the CNAME's rdata; the rewrite must carry them.
  REQUIRE(records(kAliasA) == Strings{"alias.test. CNAME mixed.test.", "mixed.test. A 198.51.100.7",
                                      "mixed.test. A 169.254.169.254", "mixed.test. A 10.1.2.3"});
  auto r = strip_private_answers(kAliasA, {});
  REQUIRE(r);
  CHECK(r->removed == 2);
  CHECK(records(r->message) == Strings{"alias.test. CNAME mixed.test.", "mixed.test. A 198.51.100.7"});
}

TEST_CASE("answers with nothing private, and local domains, are left alone", "[dns][rebind]") {
  auto r = strip_private_answers(kPublicA, {});
  REQUIRE(r);
  CHECK(r->removed == 0);
  CHECK(r->message.empty());  // send the original
  auto local = strip_private_answers(kMixedA, {*encode_name("test")});
  REQUIRE(local);
  CHECK(local->removed == 0);
  auto other = strip_private_answers(kMixedA, {*encode_name("corp.example")});
  REQUIRE(other);
  CHECK(other->removed == 2);
}

TEST_CASE("an answer whose only records are private becomes NOERROR with no answer", "[dns][rebind]") {
  const uint8_t priv[4] = {10, 1, 2, 3};
  auto m = Builder().header(9, 0x8180, 1, 1, 0, 1).question("rebind.test").a(priv).opt(1232).done();
  auto r = strip_private_answers(m, {});
  REQUIRE(r);
  CHECK(r->removed == 1);
  CHECK(get16(r->message, 2) == 0x8180);
  CHECK(get16(r->message, 6) == 0);
  CHECK(get16(r->message, 10) == 1);  // the OPT record stays
  CHECK(records(r->message) == Strings{". OPT"});
}

TEST_CASE("private glue in the additional section goes too", "[dns][rebind]") {
  const uint8_t pub[4] = {198, 51, 100, 9}, priv[4] = {192, 168, 0, 1};
  Builder b;
  b.header(3, 0x8180, 1, 0, 1, 2).question("x.test", 2);
  b.pointer(12).u16(2).u16(1).u32(60).u16(5).u8(2).u8('n').u8('s').pointer(12);  // x.test NS ns.x.test
  b.pointer(static_cast<uint16_t>(b.b.size() - 5)).u16(1).u16(1).u32(60).u16(4);
  for (uint8_t x : priv) b.u8(x);
  b.pointer(12).u16(1).u16(1).u32(60).u16(4);
  for (uint8_t x : pub) b.u8(x);
  auto m = b.done();
  REQUIRE(records(m) == Strings{"x.test. TYPE2", "ns.x.test. A 192.168.0.1", "x.test. A 198.51.100.9"});
  auto r = strip_private_answers(m, {});
  REQUIRE(r);
  CHECK(r->removed == 1);
  CHECK(records(r->message) == Strings{"x.test. TYPE2", "x.test. A 198.51.100.9"});
  // The NS record's rdata name survived the rewrite.
  size_t off = 12;
  std::string name;
  REQUIRE(read_name(r->message, off, &name));
  off += 4;
  REQUIRE(read_name(r->message, off, &name));
  size_t rd = off + 10;
  REQUIRE(read_name(r->message, rd, &name));
  CHECK(name_to_text(name) == "ns.x.test.");
}

TEST_CASE("hostile answers are refused, not followed", "[dns][rebind]") {
  const uint8_t pub[4] = {198, 51, 100, 9};
  // An owner name that points at itself.
  Builder loop;
  loop.header(1, 0x8180, 1, 1, 0, 0).question("a.test");
  loop.pointer(static_cast<uint16_t>(loop.b.size())).u16(1).u16(1).u32(60).u16(4);
  for (uint8_t x : pub) loop.u8(x);
  auto r = strip_private_answers(loop.b, {});
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message(), Catch::Contains("does not point backwards"));

  // 65535 answers promised, one given.
  auto many = Builder().header(1, 0x8180, 1, 65535, 0, 0).question("a.test").a(pub).done();
  CHECK_FALSE(strip_private_answers(many, {}));
  // Record data longer than the message.
  auto longrd = Builder().header(1, 0x8180, 1, 1, 0, 0).question("a.test").pointer(12).u16(1).u16(1).u32(60).u16(400).done();
  CHECK_FALSE(strip_private_answers(longrd, {}));
  // Bytes after the last record.
  auto trail = Builder().header(1, 0x8180, 1, 1, 0, 0).question("a.test").a(pub).u8(0).done();
  CHECK_FALSE(strip_private_answers(trail, {}));
  // A CNAME whose rdata name runs past its rdata, in an answer that needs rewriting.
  const uint8_t priv[4] = {10, 0, 0, 1};
  auto badcname = Builder().header(1, 0x8180, 1, 2, 0, 0).question("a.test")
                      .pointer(12).u16(5).u16(1).u32(60).u16(2).u8(1).u8('b')
                      .a(priv).done();
  CHECK_FALSE(strip_private_answers(badcname, {}));
  // A query instead of an answer.
  CHECK_FALSE(strip_private_answers(dnstest::query("a.test"), {}));
}

TEST_CASE("random garbage never crashes the parsers", "[dns][rebind][query]") {
  // Deterministic noise over a real answer: every outcome must be an answer or an error.
  uint32_t x = 12345;
  auto next = [&] { return x = x * 1103515245u + 12345u; };
  for (int round = 0; round < 20000; ++round) {
    auto m = kAliasA;
    int flips = 1 + static_cast<int>(next() % 6);
    for (int f = 0; f < flips; ++f) m[next() % m.size()] = static_cast<uint8_t>(next() >> 8);
    if (next() % 4 == 0) m.resize(next() % m.size());
    auto r = strip_private_answers(m, {});
    if (r && !r->message.empty()) CHECK(r->message.size() <= 3 * m.size());
    (void)parse_query(m, Transport::udp);
  }
}
