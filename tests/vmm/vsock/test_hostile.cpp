// SPDX-License-Identifier: Apache-2.0
// Tests for vmm/vsock with a hostile guest or a confused host: malformed CONNECT lines, bad
// packets, credit overruns, tiny RX buffers, RST floods and the connection limit. Each bad
// input gets an RST or is dropped, and the device keeps serving the other connections.
#include <catch.hpp>

#include <sys/resource.h>

#include "tests/vmm/vsock/test_support.hpp"

using namespace nexus;
using namespace nexus::vmm;
using namespace nexus::vmm::vsock;
using namespace nexus::vmm::vsock::testing;

namespace {

std::string raw_packet(const PacketHeader& h, std::string_view payload) {
  std::string bytes(kHeaderSize, '\0');
  encode_header(h, std::span<uint8_t, kHeaderSize>(reinterpret_cast<uint8_t*>(bytes.data()),
                                                   kHeaderSize));
  bytes.append(payload);
  return bytes;
}

/// The connection still carries data both ways.
void check_alive(VsockRig& rig, Inbox& in, HostConn& c) {
  REQUIRE(write_all(c.fd.get(), "still"));
  auto p = in.next();
  REQUIRE(p.has_value());
  CHECK(p->h.op == kOpRw);
  CHECK(p->payload == "still");
  rig.send(VsockRig::guest_header(c.g, kOpRw), "alive");
  HostReader r(c.fd.get());
  REQUIRE(rig.run_until([&] {
    r.poll();
    return r.data.size() >= 5 || r.closed();
  }));
  CHECK(r.data == "alive");
}

}  // namespace

TEST_CASE("malformed CONNECT lines close the host connection", "[vsock][hostile]") {
  VsockRig rig;
  rig.post_rx(16);
  Inbox in(rig);
  const std::vector<std::string> bad = {
      "CONNECT abc\n", "HELLO 52\n", std::string(40, 'A'), "CONNECT 52 53\n", "\n",
      "CONNECT 4294967295\n", "GET / HTTP/1.1\r\n", "CONNECT " + std::string(30, '1') + "\n"};
  for (const auto& line : bad) {
    INFO(line);
    UniqueFd fd = unix_connect(rig.path);
    REQUIRE(write_all(fd.get(), line));
    std::string seen;
    REQUIRE(host_closed(rig, fd.get(), &seen));
    CHECK(seen.empty());
  }
  CHECK(rig.dev->muxer().stats().bad_connect_line == bad.size());
  CHECK(in.quiet_for(20));  // the guest heard nothing
  HostConn c = connect_host(rig, in, 52);
  check_alive(rig, in, c);
}

TEST_CASE("a CONNECT line that never ends times out; EOF before the newline closes",
          "[vsock][hostile]") {
  MuxerOptions opts;
  opts.timeout = std::chrono::milliseconds(100);
  VsockRig rig(opts);
  rig.post_rx(4);
  Inbox in(rig);
  UniqueFd slow = unix_connect(rig.path);
  REQUIRE(write_all(slow.get(), "CONNECT 5"));
  UniqueFd quitter = unix_connect(rig.path);
  REQUIRE(write_all(quitter.get(), "CONNECT 6"));
  REQUIRE(::shutdown(quitter.get(), SHUT_WR) == 0);
  REQUIRE(host_closed(rig, quitter.get(), nullptr, 1000));
  auto start = std::chrono::steady_clock::now();
  REQUIRE(host_closed(rig, slow.get(), nullptr, 2000));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1000));
  CHECK(rig.dev->muxer().pending_count() == 0);
  CHECK(in.quiet_for(20));
}

TEST_CASE("bad packets get RST or are dropped; other connections keep working",
          "[vsock][hostile]") {
  VsockRig rig;
  rig.post_rx(32);
  Inbox in(rig);
  HostConn c = connect_host(rig, in, 52);
  const uint64_t dropped0 = rig.dev->stats().tx_dropped;

  SECTION("wrong CIDs and short chains are dropped silently") {
    PacketHeader h = VsockRig::guest_header(c.g, kOpRw);
    h.src_cid = 4;
    rig.send(h, "spoofed");
    h = VsockRig::guest_header(c.g, kOpRw);
    h.dst_cid = 5;
    rig.send(h, "elsewhere");
    rig.send_raw(std::string(43, '\x01'));  // shorter than a header
    rig.send_raw(std::string(20, '\x01'), {10});
    CHECK(rig.dev->stats().tx_dropped == dropped0 + 4);
    CHECK(in.quiet_for(20));
    check_alive(rig, in, c);
  }

  SECTION("malformed packets on other ports get RST for those ports") {
    struct Case {
      const char* what;
      std::string bytes;
    };
    std::vector<Case> cases;
    PacketHeader h = VsockRig::guest_header(kOpRequest, 7000, 9);
    h.op = 42;
    cases.push_back({"unknown op", raw_packet(h, "")});
    h = VsockRig::guest_header(kOpRequest, 7001, 9);
    h.type = kTypeSeqpacket;
    cases.push_back({"SEQPACKET", raw_packet(h, "")});
    h = VsockRig::guest_header(kOpRw, 7002, 9);
    h.len = 100;
    cases.push_back({"len past the chain", raw_packet(h, std::string(10, 'z'))});
    h = VsockRig::guest_header(kOpRw, 7003, 9);
    h.len = kMaxPayload + 1;
    cases.push_back({"len past 64 KiB", raw_packet(h, std::string(kMaxPayload + 10, 'z'))});
    h = VsockRig::guest_header(kOpRw, 7004, 9);
    h.len = 0xFFFFFFFF;
    cases.push_back({"len 4 GiB", raw_packet(h, "")});
    h = VsockRig::guest_header(kOpRw, 7005, 9);
    h.len = 3;
    cases.push_back({"RW for no connection", raw_packet(h, "abc")});
    h = VsockRig::guest_header(kOpCreditRequest, 7006, 9);
    cases.push_back({"CREDIT_REQUEST for no connection", raw_packet(h, "")});
    for (size_t i = 0; i < cases.size(); ++i) {
      INFO(cases[i].what);
      rig.send_raw(cases[i].bytes, {static_cast<uint32_t>(1 + i * 7)});
      auto rst = in.next();
      REQUIRE(rst.has_value());
      CHECK(rst->h.op == kOpRst);
      CHECK(rst->h.src_cid == kHostCid);
      CHECK(rst->h.dst_cid == VsockRig::kGuestCid);
      CHECK(rst->h.src_port == 9);
      CHECK(rst->h.dst_port == 7000 + i);
      CHECK(rst->h.len == 0);
    }
    // RST for no connection: nothing back.
    rig.send(VsockRig::guest_header(kOpRst, 7100, 9), "");
    CHECK(in.quiet_for(20));
    check_alive(rig, in, c);
  }

  SECTION("a malformed packet on a live connection's ports resets it") {
    PacketHeader h = VsockRig::guest_header(c.g, kOpRw);
    h.len = 1000;  // the chain holds 5 bytes
    rig.send_raw(raw_packet(h, "short"));
    auto rst = in.next();
    REQUIRE(rst.has_value());
    CHECK(rst->h.op == kOpRst);
    CHECK(rst->h.src_port == c.g.host_port);
    REQUIRE(host_closed(rig, c.fd.get()));
    CHECK(rig.dev->muxer().connection_count() == 0);
    HostConn d = connect_host(rig, in, 52);
    check_alive(rig, in, d);
  }

  SECTION("protocol errors on a live connection reset it") {
    auto op = GENERATE(kOpRequest, kOpResponse);
    rig.send(VsockRig::guest_header(c.g, op), "");
    auto rst = in.next();
    REQUIRE(rst.has_value());
    CHECK(rst->h.op == kOpRst);
    REQUIRE(host_closed(rig, c.fd.get()));
  }

  SECTION("a guest overrunning our credit is reset") {
    // Make the host socket block so the device must buffer, then send past 64 KiB.
    std::string chunk(kMaxPayload, 'o');
    for (int i = 0; i < 16 && rig.dev->muxer().connection_count() == 1; ++i)
      rig.send(VsockRig::guest_header(c.g, kOpRw), chunk);
    CHECK(rig.dev->muxer().connection_count() == 0);
    bool got_rst = false;
    in.pull();
    for (auto& p : in.packets) got_rst |= p.h.op == kOpRst && p.h.src_port == c.g.host_port;
    CHECK(got_rst);
  }
}

TEST_CASE("RX buffers too small for the next packet are returned empty", "[vsock][hostile]") {
  VsockRig rig;
  rig.auto_repost = false;
  Inbox in(rig);
  UniqueFd fd = unix_connect(rig.path);
  REQUIRE(write_all(fd.get(), "CONNECT 52\n"));
  CHECK(in.quiet_for(50));  // accepted; the REQUEST waits for a buffer
  rig.post_rx_chain({{20, true, 0}});
  auto p = in.next();
  REQUIRE(p.has_value());
  CHECK(p->used_len == 0);
  rig.post_rx(1, 0);  // exactly a header: enough for a control packet
  p = in.next();
  REQUIRE(p.has_value());
  REQUIRE(p->h.op == kOpRequest);
  GuestConn g{52, p->h.src_port};
  rig.send(VsockRig::guest_header(g, kOpResponse), "");
  HostReader r(fd.get());
  REQUIRE(rig.run_until([&] {
    r.poll();
    return r.data.find('\n') != std::string::npos;
  }));
  REQUIRE(write_all(fd.get(), "data"));
  CHECK(in.quiet_for(20));
  rig.post_rx(1, 0);  // no room for data: handed back empty rather than blocking the ring
  p = in.next();
  REQUIRE(p.has_value());
  CHECK(p->used_len == 0);
  rig.post_rx(1, 4096);
  p = in.next();
  REQUIRE(p.has_value());
  CHECK(p->h.op == kOpRw);
  CHECK(p->payload == "data");
  CHECK(rig.dev->stats().rx_bad_buffers == 2);
}

TEST_CASE("a flood of RSTs with no RX buffer stalls TX, then drains", "[vsock][hostile]") {
  VsockRig rig;
  Inbox in(rig);
  constexpr int kFlood = 400;
  for (int i = 0; i < kFlood; ++i) {
    PacketHeader h = VsockRig::guest_header(kOpRw, 20000 + static_cast<uint32_t>(i), 9);
    h.len = 1;
    rig.push_tx(raw_packet(h, "x"));
    if (i % 128 == 127) rig.kick(kTxQueue);
  }
  rig.kick(kTxQueue);
  CHECK(rig.tx_pending() == kFlood - Muxer::kRstBacklog);
  rig.post_rx(64);  // reposted as they are used
  std::set<uint32_t> ports;
  REQUIRE(rig.run_until([&] {
    in.pull();
    while (!in.packets.empty()) {
      CHECK(in.packets.front().h.op == kOpRst);
      ports.insert(in.packets.front().h.dst_port);
      in.packets.pop_front();
    }
    return ports.size() == kFlood;
  }));
  CHECK(rig.tx_pending() == 0);
  CHECK(rig.dev->muxer().stats().rst_dropped == 0);
}

TEST_CASE("the connection limit refuses more", "[vsock][hostile][limit]") {
  MuxerOptions opts;
  opts.max_connections = 4;
  VsockRig rig(opts);
  rig.post_rx(32);
  Inbox in(rig);
  UniqueFd listener = unix_listen(rig.path + "_80");
  for (uint32_t i = 0; i < 4; ++i) {
    rig.send(VsockRig::guest_header(kOpRequest, 100 + i, 80), "");
    auto p = in.next();
    REQUIRE(p.has_value());
    CHECK(p->h.op == kOpResponse);
  }
  rig.send(VsockRig::guest_header(kOpRequest, 200, 80), "");
  auto p = in.next();
  REQUIRE(p.has_value());
  CHECK(p->h.op == kOpRst);
  CHECK(p->h.dst_port == 200);

  UniqueFd host = unix_connect(rig.path);
  REQUIRE(host.valid());
  (void)write_all(host.get(), "CONNECT 52\n");
  REQUIRE(host_closed(rig, host.get()));
  CHECK(rig.dev->muxer().stats().refused == 1);

  // Closing one makes room.
  rig.send(VsockRig::guest_header(kOpRst, 100, 80), "");
  CHECK(rig.dev->muxer().connection_count() == 3);
  rig.send(VsockRig::guest_header(kOpRequest, 201, 80), "");
  p = in.next();
  REQUIRE(p.has_value());
  CHECK(p->h.op == kOpResponse);
}

TEST_CASE("the default limit is 1023 connections", "[vsock][hostile][limit]") {
  VsockRig rig;
  rig.post_rx(128);
  Inbox in(rig);
  UniqueFd listener = unix_listen(rig.path + "_80");
  int responses = 0, resets = 0;
  std::vector<UniqueFd> accepted;
  for (uint32_t i = 0; i < 1024; ++i) {
    rig.push_tx(raw_packet(VsockRig::guest_header(kOpRequest, 1000 + i, 80), ""));
    if (i % 64 == 63) {
      rig.kick(kTxQueue);
      in.pull();
      // Keep the test listener's backlog short.
      for (UniqueFd fd = unix_accept(listener.get()); fd.valid(); fd = unix_accept(listener.get()))
        accepted.push_back(std::move(fd));
    }
  }
  rig.kick(kTxQueue);
  REQUIRE(rig.run_until([&] {
    in.pull();
    while (!in.packets.empty()) {
      if (in.packets.front().h.op == kOpResponse) ++responses;
      if (in.packets.front().h.op == kOpRst) {
        ++resets;
        CHECK(in.packets.front().h.dst_port == 1000 + 1023);
      }
      in.packets.pop_front();
    }
    return responses + resets == 1024;
  }));
  CHECK(responses == 1023);
  CHECK(resets == 1);
  CHECK(rig.dev->muxer().connection_count() == 1023);
}
