// SPDX-License-Identifier: Apache-2.0
// Tests for vmm/vsock/connection: one stream's state machine and credit accounting over a
// socketpair, without the device or the event loop.
#include <catch.hpp>

#include <sys/epoll.h>
#include <sys/socket.h>

#include <string>
#include <vector>

#include "common/unique_fd.hpp"
#include "vmm/vsock/connect_line.hpp"
#include "vmm/vsock/connection.hpp"

using namespace nexus;
using namespace nexus::vmm::vsock;
using Verdict = Connection::Verdict;

namespace {

constexpr uint64_t kCid = 3;
constexpr ConnKey kKey{52, 1000};

struct Pair {
  Pair() {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
    ours = fds[0];
    host.reset(fds[1]);
  }
  int ours = -1;  ///< owned by the Connection
  UniqueFd host;
  std::string read_host() {
    std::string s;
    char buf[65536];
    for (;;) {
      ssize_t n = ::recv(host.get(), buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) return s;
      s.append(buf, static_cast<size_t>(n));
    }
  }
  void write_host(const std::string& s) {
    REQUIRE(::send(host.get(), s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size()));
  }
};

PacketHeader guest(uint16_t op, uint32_t buf_alloc = 256 * 1024, uint32_t fwd_cnt = 0) {
  PacketHeader h;
  h.src_cid = kCid;
  h.dst_cid = kHostCid;
  h.src_port = kKey.peer_port;
  h.dst_port = kKey.local_port;
  h.type = kTypeStream;
  h.op = op;
  h.buf_alloc = buf_alloc;
  h.fwd_cnt = fwd_cnt;
  return h;
}

std::span<const uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string pattern(size_t n, size_t seed = 0) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i + seed) % 26);
  return s;
}

}  // namespace

TEST_CASE("a guest-initiated connection answers RESPONSE, then relays within the guest's credit",
          "[vsock][connection]") {
  Pair p;
  Connection c = Connection::guest_initiated(UniqueFd(p.ours), kKey, kCid, guest(kOpRequest, 10000));
  CHECK(c.established());
  REQUIRE(c.wants_rx());
  PacketHeader h;
  std::vector<uint8_t> payload;
  auto rx = c.next_rx(h, payload, 4096);
  REQUIRE(rx.produced);
  CHECK(h.op == kOpResponse);
  CHECK(h.src_cid == kHostCid);
  CHECK(h.dst_cid == kCid);
  CHECK(h.src_port == 52);
  CHECK(h.dst_port == 1000);
  CHECK(h.buf_alloc == kConnBufAlloc);
  CHECK(h.fwd_cnt == 0);
  CHECK_FALSE(c.wants_rx());
  CHECK((c.wanted_events() & EPOLLIN) != 0);

  std::string sent = pattern(20000);
  p.write_host(sent);
  CHECK(c.on_socket(EPOLLIN) == Verdict::keep);
  CHECK(c.wants_rx());
  CHECK((c.wanted_events() & EPOLLIN) == 0);  // known readable: no need to watch
  std::string got;
  while (c.wants_rx()) {
    rx = c.next_rx(h, payload, 4096);
    if (!rx.produced) break;
    if (h.op == kOpCreditRequest) break;
    REQUIRE(h.op == kOpRw);
    REQUIRE(h.len == payload.size());
    got.append(payload.begin(), payload.end());
  }
  CHECK(got == sent.substr(0, 10000));  // exactly the credit
  CHECK(h.op == kOpCreditRequest);      // stuck: ask once
  CHECK(c.peer_credit() == 0);
  CHECK_FALSE(c.wants_rx());

  // The guest consumed 6000 bytes.
  CHECK(c.on_packet(guest(kOpCreditUpdate, 10000, 6000), {}) == Verdict::keep);
  CHECK(c.peer_credit() == 6000);
  while (c.wants_rx()) {
    rx = c.next_rx(h, payload, 65536);
    if (!rx.produced) break;
    if (h.op == kOpCreditRequest) break;
    got.append(payload.begin(), payload.end());
  }
  CHECK(got == sent.substr(0, 16000));
  CHECK(c.on_packet(guest(kOpCreditUpdate, 10000, 16000), {}) == Verdict::keep);
  while (c.wants_rx()) {
    rx = c.next_rx(h, payload, 65536);
    if (!rx.produced) break;
    got.append(payload.begin(), payload.end());
  }
  CHECK(got == sent);
  CHECK(c.tx_cnt() == sent.size());
}

TEST_CASE("guest data reaches the socket and fwd_cnt drives CREDIT_UPDATE", "[vsock][connection]") {
  Pair p;
  Connection c = Connection::guest_initiated(UniqueFd(p.ours), kKey, kCid, guest(kOpRequest));
  PacketHeader h;
  std::vector<uint8_t> payload;
  REQUIRE(c.next_rx(h, payload, 4096).produced);  // RESPONSE

  std::string a = pattern(3000), b = pattern(3000, 7);
  CHECK(c.on_packet(guest(kOpRw), bytes(a)) == Verdict::keep);
  CHECK(c.fwd_cnt() == 3000);
  CHECK_FALSE(c.wants_rx());  // 3000 <= 4 KiB stale: no update yet
  CHECK(c.on_packet(guest(kOpRw), bytes(b)) == Verdict::keep);
  CHECK(c.rx_cnt() == 6000);
  CHECK(c.fwd_cnt() == 6000);
  REQUIRE(c.wants_rx());
  REQUIRE(c.next_rx(h, payload, 4096).produced);
  CHECK(h.op == kOpCreditUpdate);
  CHECK(h.fwd_cnt == 6000);
  CHECK(p.read_host() == a + b);

  // An explicit CREDIT_REQUEST is answered even when nothing changed.
  CHECK(c.on_packet(guest(kOpCreditRequest), {}) == Verdict::keep);
  REQUIRE(c.next_rx(h, payload, 4096).produced);
  CHECK(h.op == kOpCreditUpdate);
}

TEST_CASE("a blocked socket buffers up to our credit; a guest that overruns it is reset",
          "[vsock][connection]") {
  Pair p;
  int small = 4096;
  REQUIRE(::setsockopt(p.ours, SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
  Connection c = Connection::guest_initiated(UniqueFd(p.ours), kKey, kCid, guest(kOpRequest));
  PacketHeader h;
  std::vector<uint8_t> payload;
  REQUIRE(c.next_rx(h, payload, 4096).produced);

  // Send as a well-behaved guest does: never more than our advertised credit.
  std::string all;
  uint32_t sent = 0;
  while (sent - c.fwd_cnt() + 4096 <= kConnBufAlloc) {
    std::string chunk = pattern(4096, sent);
    REQUIRE(c.on_packet(guest(kOpRw), bytes(chunk)) == Verdict::keep);
    all += chunk;
    sent += 4096;
  }
  CHECK(c.buffered() > 0);
  CHECK((c.wanted_events() & EPOLLOUT) != 0);
  // Draining the host side frees the buffer on EPOLLOUT.
  std::string got = p.read_host();
  for (int i = 0; i < 100 && c.buffered() > 0; ++i) {
    REQUIRE(c.on_socket(EPOLLOUT) == Verdict::keep);
    got += p.read_host();
  }
  CHECK(c.buffered() == 0);
  CHECK(got == all);
  CHECK(c.fwd_cnt() == sent);
  CHECK((c.wanted_events() & EPOLLOUT) == 0);

  // Now overrun: 64 KiB + 1 byte while the host reads nothing.
  std::string big(kConnBufAlloc / 2, 'x');
  Verdict v = Verdict::keep;
  for (int i = 0; i < 8 && v == Verdict::keep; ++i) v = c.on_packet(guest(kOpRw), bytes(big));
  CHECK(v == Verdict::reset);
}

TEST_CASE("a host-initiated connection sends REQUEST and answers OK after RESPONSE",
          "[vsock][connection]") {
  Pair p;
  ConnKey key{1u << 30, 52};
  Connection c = Connection::host_initiated(UniqueFd(p.ours), key, kCid);
  CHECK_FALSE(c.established());
  CHECK(c.timed());
  PacketHeader h;
  std::vector<uint8_t> payload;
  REQUIRE(c.next_rx(h, payload, 4096).produced);
  CHECK(h.op == kOpRequest);
  CHECK(h.src_port == 1u << 30);
  CHECK(h.dst_port == 52);
  CHECK(c.wanted_events() == 0);  // nothing to read before the guest accepts

  PacketHeader resp = guest(kOpResponse);
  resp.src_port = 52;
  resp.dst_port = 1u << 30;
  CHECK(c.on_packet(resp, {}) == Verdict::keep);
  CHECK(c.established());
  CHECK_FALSE(c.timed());
  CHECK(p.read_host() == "OK 1073741824\n");
  CHECK(c.fwd_cnt() == 0);  // our own line is not guest data
  CHECK(c.on_packet(resp, {}) == Verdict::reset);  // a second RESPONSE is a protocol error
}

TEST_CASE("RST before RESPONSE closes; RW before RESPONSE resets", "[vsock][connection]") {
  {
    Pair p;
    Connection c = Connection::host_initiated(UniqueFd(p.ours), ConnKey{1u << 30, 52}, kCid);
    CHECK(c.on_packet(guest(kOpRst), {}) == Verdict::close);
  }
  {
    Pair p;
    Connection c = Connection::host_initiated(UniqueFd(p.ours), ConnKey{1u << 30, 52}, kCid);
    std::string data = "early";
    CHECK(c.on_packet(guest(kOpRw), bytes(data)) == Verdict::reset);
  }
  {
    Pair p;
    Connection c = Connection::host_initiated(UniqueFd(p.ours), ConnKey{1u << 30, 52}, kCid);
    p.host.reset();  // the host gave up while we waited for the guest
    CHECK(c.on_socket(EPOLLHUP | EPOLLIN) == Verdict::reset);
  }
}

TEST_CASE("shutdown in both directions ends with RST", "[vsock][connection]") {
  SECTION("the guest shuts both directions") {
    Pair p;
    Connection c = Connection::guest_initiated(UniqueFd(p.ours), kKey, kCid, guest(kOpRequest));
    PacketHeader h;
    std::vector<uint8_t> payload;
    REQUIRE(c.next_rx(h, payload, 4096).produced);
    PacketHeader sd = guest(kOpShutdown);
    sd.flags = kShutdownBoth;
    CHECK(c.on_packet(sd, {}) == Verdict::reset);
  }
  SECTION("host EOF, then the guest stops sending") {
    Pair p;
    Connection c = Connection::guest_initiated(UniqueFd(p.ours), kKey, kCid, guest(kOpRequest));
    PacketHeader h;
    std::vector<uint8_t> payload;
    REQUIRE(c.next_rx(h, payload, 4096).produced);
    p.write_host("bye");
    REQUIRE(::shutdown(p.host.get(), SHUT_WR) == 0);
    CHECK(c.on_socket(EPOLLIN) == Verdict::keep);
    auto rx = c.next_rx(h, payload, 4096);
    REQUIRE(rx.produced);
    CHECK(h.op == kOpRw);
    CHECK(std::string(payload.begin(), payload.end()) == "bye");
    while (h.op == kOpRw) {
      rx = c.next_rx(h, payload, 4096);
      if (!rx.produced) {
        REQUIRE(c.on_socket(EPOLLIN) == Verdict::keep);
        continue;
      }
    }
    CHECK(h.op == kOpShutdown);
    CHECK(h.flags == kShutdownSend);
    CHECK(rx.after == Verdict::keep);
    // The guest can still send.
    std::string more = "still here";
    CHECK(c.on_packet(guest(kOpRw), bytes(more)) == Verdict::keep);
    CHECK(p.read_host() == more);
    PacketHeader sd = guest(kOpShutdown);
    sd.flags = kShutdownSend;
    CHECK(c.on_packet(sd, {}) == Verdict::reset);
  }
  SECTION("the guest's SHUTDOWN waits for buffered data to reach the socket") {
    Pair p;
    int small = 4096;
    REQUIRE(::setsockopt(p.ours, SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
    Connection c = Connection::guest_initiated(UniqueFd(p.ours), kKey, kCid, guest(kOpRequest));
    PacketHeader h;
    std::vector<uint8_t> payload;
    REQUIRE(c.next_rx(h, payload, 4096).produced);
    std::string data = pattern(60000);
    REQUIRE(c.on_packet(guest(kOpRw), bytes(data)) == Verdict::keep);
    REQUIRE(c.buffered() > 0);
    PacketHeader sd = guest(kOpShutdown);
    sd.flags = kShutdownBoth;
    CHECK(c.on_packet(sd, {}) == Verdict::keep);
    CHECK(c.timed());
    std::string got = p.read_host();
    Verdict v = Verdict::keep;
    for (int i = 0; i < 100 && v == Verdict::keep; ++i) {
      v = c.on_socket(EPOLLOUT);
      got += p.read_host();
    }
    CHECK(v == Verdict::reset);
    CHECK(got == data);
  }
}
