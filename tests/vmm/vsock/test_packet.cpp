// SPDX-License-Identifier: Apache-2.0
// Tests for vmm/vsock/packet (header layout and TX checks) and vmm/vsock/connect_line.
#include <catch.hpp>

#include <sys/socket.h>

#include <string>

#include "common/unique_fd.hpp"
#include "vmm/vsock/connect_line.hpp"
#include "vmm/vsock/packet.hpp"

using namespace nexus;
using namespace nexus::vmm::vsock;

namespace {

PacketHeader sample() {
  PacketHeader h;
  h.src_cid = 0x0102030405060708ull;
  h.dst_cid = 2;
  h.src_port = 0x11223344;
  h.dst_port = 52;
  h.len = 0x1000;
  h.type = kTypeStream;
  h.op = kOpRw;
  h.flags = 0xA0B0C0D0;
  h.buf_alloc = 0x40000;
  h.fwd_cnt = 0xDEADBEEF;
  return h;
}

PacketHeader from_guest(uint16_t op) {
  PacketHeader h;
  h.src_cid = 3;
  h.dst_cid = kHostCid;
  h.src_port = 1000;
  h.dst_port = 52;
  h.type = kTypeStream;
  h.op = op;
  return h;
}

struct SocketPair {
  SocketPair() {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
    a.reset(fds[0]);
    b.reset(fds[1]);
  }
  void send(std::string_view s) {
    REQUIRE(::send(b.get(), s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size()));
  }
  UniqueFd a, b;
};

}  // namespace

TEST_CASE("the vsock header is 44 packed little-endian bytes", "[vsock][packet]") {
  PacketHeader h = sample();
  uint8_t raw[kHeaderSize];
  encode_header(h, raw);
  CHECK(raw[0] == 0x08);  // src_cid LE
  CHECK(raw[7] == 0x01);
  CHECK(raw[8] == 2);
  CHECK(raw[16] == 0x44);
  CHECK(raw[19] == 0x11);
  CHECK(raw[20] == 52);
  CHECK(raw[24] == 0x00);
  CHECK(raw[25] == 0x10);
  CHECK(raw[28] == 1);
  CHECK(raw[29] == 0);
  CHECK(raw[30] == kOpRw);
  CHECK(raw[32] == 0xD0);
  CHECK(raw[35] == 0xA0);
  CHECK(raw[38] == 0x04);
  CHECK(raw[40] == 0xEF);
  CHECK(raw[43] == 0xDE);
  CHECK(decode_header(raw) == h);
}

TEST_CASE("packets from the guest are checked before the muxer sees them", "[vsock][packet]") {
  PacketHeader h = from_guest(kOpRw);
  h.len = 10;
  CHECK(check_tx_header(h, 3, 10).verdict == TxVerdict::accept);
  CHECK(check_tx_header(h, 3, 100).verdict == TxVerdict::accept);
  CHECK(check_tx_header(h, 3, 9).verdict == TxVerdict::reset);  // len past the chain
  CHECK(check_tx_header(h, 4, 10).verdict == TxVerdict::drop);  // not the guest's CID

  PacketHeader other = h;
  other.dst_cid = 7;
  CHECK(check_tx_header(other, 3, 10).verdict == TxVerdict::drop);
  other = h;
  other.type = kTypeSeqpacket;
  CHECK(check_tx_header(other, 3, 10).verdict == TxVerdict::reset);
  other = h;
  other.len = kMaxPayload + 1;
  CHECK(check_tx_header(other, 3, 1 << 20).verdict == TxVerdict::reset);
  other.len = kMaxPayload;
  CHECK(check_tx_header(other, 3, 1 << 20).verdict == TxVerdict::accept);
  for (uint16_t op : {uint16_t{0}, uint16_t{8}, uint16_t{0xFFFF}}) {
    other = h;
    other.op = op;
    CHECK(check_tx_header(other, 3, 10).verdict == TxVerdict::reset);
  }
  for (uint16_t op = kOpRequest; op <= kOpCreditRequest; ++op) {
    other = h;
    other.op = op;
    CHECK(check_tx_header(other, 3, 10).verdict == TxVerdict::accept);
  }
  // A malformed RST is dropped, never answered with an RST.
  PacketHeader rst = from_guest(kOpRst);
  rst.type = kTypeSeqpacket;
  CHECK(check_tx_header(rst, 3, 0).verdict == TxVerdict::drop);
  rst = from_guest(kOpRst);
  rst.len = 5;
  CHECK(check_tx_header(rst, 3, 0).verdict == TxVerdict::drop);
}

TEST_CASE("host headers come from CID 2 with the connection's ports", "[vsock][packet]") {
  PacketHeader h = host_header(3, ConnKey{1u << 30, 52}, kOpRequest);
  CHECK(h.src_cid == kHostCid);
  CHECK(h.dst_cid == 3);
  CHECK(h.src_port == 1u << 30);
  CHECK(h.dst_port == 52);
  CHECK(h.type == kTypeStream);
  CHECK(h.op == kOpRequest);
  CHECK(h.len == 0);
}

TEST_CASE("CONNECT lines", "[vsock][connect_line]") {
  CHECK(parse_connect_line("CONNECT 52").value() == 52);
  CHECK(parse_connect_line("connect 52").value() == 52);
  CHECK(parse_connect_line("CoNnEcT\t 1234 \r").value() == 1234);
  CHECK(parse_connect_line("CONNECT 0").value() == 0);
  CHECK(parse_connect_line("CONNECT 4294967294").value() == 4294967294u);
  for (const char* bad : {"", "CONNECT", "CONNECT ", "CONNECT52", "CONNECTX 52", "CONNEC 52",
                          "CONNECT 52x", "CONNECT -1", "CONNECT +5", "CONNECT 4294967295",
                          "CONNECT 99999999999999999999", "CONNECT 5 6", "OK 52", " CONNECT 52",
                          "CONNECT 0x10"}) {
    INFO(bad);
    CHECK_FALSE(parse_connect_line(bad).has_value());
  }
  CHECK(format_ok_line(1073741824) == "OK 1073741824\n");
}

TEST_CASE("the CONNECT line reader stops at the newline", "[vsock][connect_line]") {
  SocketPair sp;
  ConnectLineReader reader;
  auto r = reader.read_from(sp.a.get());
  REQUIRE(r.has_value());
  CHECK_FALSE(r->has_value());  // nothing yet
  sp.send("conn");
  r = reader.read_from(sp.a.get());
  REQUIRE(r.has_value());
  CHECK_FALSE(r->has_value());
  sp.send("ect 77\nstream bytes");
  r = reader.read_from(sp.a.get());
  REQUIRE(r.has_value());
  REQUIRE(r->has_value());
  CHECK(**r == 77);
  char buf[64];
  ssize_t n = ::recv(sp.a.get(), buf, sizeof buf, MSG_DONTWAIT);
  REQUIRE(n > 0);
  CHECK(std::string(buf, static_cast<size_t>(n)) == "stream bytes");
}

TEST_CASE("the CONNECT line reader fails on long lines, garbage and EOF", "[vsock][connect_line]") {
  {
    SocketPair sp;
    ConnectLineReader reader;
    sp.send(std::string(31, ' ') + "\n");  // 32 bytes with the newline: read, but malformed
    auto r = reader.read_from(sp.a.get());
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().is(Errc::protocol));
  }
  {
    SocketPair sp;
    ConnectLineReader reader;
    sp.send("CONNECT " + std::string(22, '0') + "52\n");  // 33 bytes
    auto r = reader.read_from(sp.a.get());
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().is(Errc::too_large));
  }
  {
    SocketPair sp;
    ConnectLineReader reader;
    sp.send("CONNECT " + std::string(21, '0') + "52\n");  // exactly 32 bytes: fine
    auto r = reader.read_from(sp.a.get());
    REQUIRE(r.has_value());
    REQUIRE(r->has_value());
    CHECK(**r == 52);
  }
  {
    SocketPair sp;
    ConnectLineReader reader;
    sp.send("CONNECT 5");
    sp.b.reset();
    auto r = reader.read_from(sp.a.get());
    REQUIRE_FALSE(r.has_value());
  }
  {
    SocketPair sp;
    ConnectLineReader reader;
    sp.send("GET / HTTP/1.1\r\n");
    CHECK_FALSE(reader.read_from(sp.a.get()).has_value());
  }
}
