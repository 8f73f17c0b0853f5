// SPDX-License-Identifier: Apache-2.0
// Tests for vmm/vsock/device end to end: a fake guest driver on real rings in guest memory,
// the EventLoop, and real Unix sockets on the host side. The well-behaved paths: handshakes,
// data both ways with flow control, shutdown, the event queue and reset.
#include <catch.hpp>

#include <sys/stat.h>

#include "tests/vmm/vsock/test_support.hpp"

using namespace nexus;
using namespace nexus::vmm;
using namespace nexus::vmm::vsock;
using namespace nexus::vmm::vsock::testing;

TEST_CASE("vsock device identity and config space", "[vsock][device]") {
  VsockRig rig;
  CHECK(rig.dev->device_id() == 19);
  CHECK(rig.dev->queue_count() == 3);
  CHECK(rig.dev->queue_max_size(0) == 256);
  CHECK((rig.dev->features() & virtio::kFeatureVersion1) != 0);
  uint8_t cfg[12];
  std::memset(cfg, 0xAA, sizeof cfg);
  rig.dev->read_config(0, cfg, sizeof cfg);
  CHECK(cfg[0] == 3);
  for (int i = 1; i < 12; ++i) CHECK(cfg[i] == 0);
  uint32_t hi = 1;
  rig.dev->read_config(4, &hi, 4);
  CHECK(hi == 0);
  uint8_t far = 0xAA;
  rig.dev->read_config(UINT64_MAX, &far, 1);
  CHECK(far == 0);
  struct stat st{};
  REQUIRE(::stat(rig.path.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK(rig.dev->listen_fd() >= 0);
}

TEST_CASE("create() validates the CID and replaces only a stale socket", "[vsock][device]") {
  TempDir dir;
  CHECK_FALSE(VsockDevice::create(2, dir.path() + "/a.sock").has_value());
  CHECK_FALSE(VsockDevice::create(1ull << 32, dir.path() + "/a.sock").has_value());
  CHECK_FALSE(VsockDevice::create(3, dir.path() + "/" + std::string(200, 'x')).has_value());
  {
    auto first = VsockDevice::create(3, dir.path() + "/a.sock");
    REQUIRE(first.has_value());
    auto second = VsockDevice::create(3, dir.path() + "/a.sock");  // the first one's file is stale
    REQUIRE(second.has_value());
    first->reset();
  }
  std::string plain = dir.path() + "/plain";
  FILE* f = std::fopen(plain.c_str(), "w");
  REQUIRE(f);
  std::fclose(f);
  auto r = VsockDevice::create(3, plain);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().is(Errc::already_exists));
}

TEST_CASE("host-initiated CONNECT handshake answers OK <port> and relays both ways",
          "[vsock][device]") {
  VsockRig rig;
  rig.post_rx(16);
  Inbox in(rig);
  HostConn c = connect_host(rig, in, 52);
  CHECK(c.g.host_port == 1u << 30);
  CHECK(rig.irq.used > 0);

  // host → guest
  REQUIRE(write_all(c.fd.get(), "hello guest"));
  auto p = in.next();
  REQUIRE(p.has_value());
  CHECK(p->h.op == kOpRw);
  CHECK(p->h.src_port == c.g.host_port);
  CHECK(p->h.dst_port == 52);
  CHECK(p->payload == "hello guest");
  CHECK(p->used_len == kHeaderSize + 11);

  // guest → host
  rig.send(VsockRig::guest_header(c.g, kOpRw), "hello host");
  HostReader r(c.fd.get());
  REQUIRE(rig.run_until([&] {
    r.poll();
    return r.data.size() >= 10;
  }));
  CHECK(r.data == "hello host");

  // A second connection gets the next port.
  HostConn d = connect_host(rig, in, 53);
  CHECK(d.g.host_port == (1u << 30) + 1);
  CHECK(rig.dev->muxer().connection_count() == 2);
}

TEST_CASE("the host may send stream bytes right after the CONNECT line", "[vsock][device]") {
  VsockRig rig;
  rig.post_rx(16);
  Inbox in(rig);
  UniqueFd fd = unix_connect(rig.path);
  REQUIRE(write_all(fd.get(), "connect 7\nearly bytes"));
  auto req = in.next();
  REQUIRE(req.has_value());
  REQUIRE(req->h.op == kOpRequest);
  GuestConn g{7, req->h.src_port};
  rig.send(VsockRig::guest_header(g, kOpResponse), "");
  auto p = in.next();
  REQUIRE(p.has_value());
  CHECK(p->h.op == kOpRw);
  CHECK(p->payload == "early bytes");
}

TEST_CASE("RST from the guest (no listener) closes the host connection", "[vsock][device]") {
  VsockRig rig;
  rig.post_rx(4);
  Inbox in(rig);
  UniqueFd fd = unix_connect(rig.path);
  REQUIRE(write_all(fd.get(), "CONNECT 99\n"));
  auto req = in.next();
  REQUIRE(req.has_value());
  REQUIRE(req->h.op == kOpRequest);
  GuestConn g{99, req->h.src_port};
  rig.send(VsockRig::guest_header(g, kOpRst), "");
  std::string seen;
  REQUIRE(host_closed(rig, fd.get(), &seen));
  CHECK(seen.empty());  // no OK line
  CHECK(rig.dev->muxer().connection_count() == 0);
  CHECK(in.quiet_for(50));  // and no RST back for an RST
}

TEST_CASE("host → guest data beyond the guest's credit waits for CREDIT_UPDATE",
          "[vsock][device][flow]") {
  auto layout = GENERATE(VsockRig::RxLayout::single, VsockRig::RxLayout::split);
  VsockRig rig;
  rig.post_rx(32, 4096, layout);
  Inbox in(rig);
  constexpr uint32_t kGuestBuf = 8192;
  HostConn c = connect_host(rig, in, 52, kGuestBuf);
  const std::string data = pattern(100000);
  std::string pending = data;
  std::string got;
  int credit_requests = 0;
  uint32_t max_in_flight = 0;
  bool ok = rig.run_until(
      [&] {
        pump_write(c.fd.get(), pending);
        in.pull();
        while (!in.packets.empty()) {
          RxPacket p = std::move(in.packets.front());
          in.packets.pop_front();
          REQUIRE(p.h.dst_port == 52);
          if (p.h.op == kOpRw) {
            CHECK(p.payload.size() <= 4096);
            got += p.payload;
            max_in_flight = std::max<uint32_t>(max_in_flight, static_cast<uint32_t>(got.size()) - c.g.fwd_cnt);
          } else if (p.h.op == kOpCreditRequest) {
            // The guest application reads everything, and the driver answers the request.
            ++credit_requests;
            c.g.fwd_cnt = static_cast<uint32_t>(got.size());
            rig.send(VsockRig::guest_header(c.g, kOpCreditUpdate), "");
          } else {
            FAIL("unexpected op " << p.h.op);
          }
        }
        return got.size() == data.size();
      },
      10000);
  REQUIRE(ok);
  CHECK(got == data);
  CHECK(max_in_flight <= kGuestBuf);
  CHECK(credit_requests >= static_cast<int>(data.size() / kGuestBuf) - 1);
}

TEST_CASE("guest → host packets split any way across descriptors", "[vsock][device]") {
  VsockRig rig;
  rig.post_rx(16);
  Inbox in(rig);
  HostConn c = connect_host(rig, in, 52);
  const std::vector<std::vector<uint32_t>> splits = {
      {}, {44}, {44, 1, 1}, {3, 41, 7}, {1, 1, 1, 50}, {20, 30, 5}, {43, 2}, {44, 100}, {45}, {1}};
  std::string expected;
  for (size_t i = 0; i < splits.size(); ++i) {
    std::string payload = pattern(100 + i, i);
    rig.send(VsockRig::guest_header(c.g, kOpRw), payload, splits[i]);
    expected += payload;
  }
  // Several packets in one kick too.
  for (int i = 0; i < 5; ++i) {
    std::string payload = pattern(10, 100 + i);
    PacketHeader h = VsockRig::guest_header(c.g, kOpRw);
    h.len = 10;
    std::string bytes(kHeaderSize, '\0');
    encode_header(h, std::span<uint8_t, kHeaderSize>(reinterpret_cast<uint8_t*>(bytes.data()), kHeaderSize));
    rig.push_tx(bytes + payload, {static_cast<uint32_t>(i + 1)});
    expected += payload;
  }
  rig.kick(kTxQueue);
  CHECK(rig.tx_pending() == 0);
  HostReader r(c.fd.get());
  REQUIRE(rig.run_until([&] {
    r.poll();
    return r.data.size() >= expected.size();
  }));
  CHECK(r.data == expected);
  CHECK(rig.dev->stats().tx_rejected == 0);
}

TEST_CASE("guest → host data faster than the host reads: buffered within our credit",
          "[vsock][device][flow]") {
  VsockRig rig;
  rig.post_rx(32);
  Inbox in(rig);
  HostConn c = connect_host(rig, in, 52);
  const std::string data = pattern(1 << 20, 3);
  size_t sent = 0;
  uint32_t host_fwd = 0, host_alloc = kConnBufAlloc;
  bool reading = false;
  int stuck = 0;
  HostReader r(c.fd.get());
  size_t max_buffered = 0;
  bool ok = rig.run_until(
      [&] {
        in.pull();
        while (!in.packets.empty()) {
          RxPacket p = std::move(in.packets.front());
          in.packets.pop_front();
          REQUIRE(p.h.op == kOpCreditUpdate);
          host_fwd = p.h.fwd_cnt;
          host_alloc = p.h.buf_alloc;
        }
        bool progressed = false;
        while (sent < data.size()) {
          size_t n = std::min<size_t>(16384, data.size() - sent);
          uint32_t in_flight = static_cast<uint32_t>(sent) - host_fwd;
          if (in_flight + n > host_alloc) break;  // respect the host's credit
          rig.send(VsockRig::guest_header(c.g, kOpRw), std::string_view(data).substr(sent, n));
          sent += n;
          progressed = true;
        }
        if (const Connection* conn = rig.dev->muxer().find({c.g.host_port, 52}))
          max_buffered = std::max(max_buffered, conn->buffered());
        if (!progressed && ++stuck > 20) reading = true;  // the host starts reading late
        if (reading) r.poll();
        return r.data.size() == data.size();
      },
      20000);
  REQUIRE(ok);
  CHECK(r.data == data);
  CHECK(max_buffered > 0);  // the socket did block
  CHECK(max_buffered <= kConnBufAlloc);
  CHECK(rig.dev->stats().tx_rejected == 0);
  CHECK(rig.dev->muxer().stats().rst_sent == 0);
}

TEST_CASE("guest-initiated connections reach <uds_path>_<port>", "[vsock][device]") {
  VsockRig rig;
  rig.post_rx(16);
  Inbox in(rig);
  UniqueFd listener = unix_listen(rig.path + "_52");
  GuestConn g{5000, 52};
  rig.send(VsockRig::guest_header(g, kOpRequest), "");
  auto resp = in.next();
  REQUIRE(resp.has_value());
  CHECK(resp->h.op == kOpResponse);
  CHECK(resp->h.src_port == 52);
  CHECK(resp->h.dst_port == 5000);
  CHECK(resp->h.buf_alloc == kConnBufAlloc);
  UniqueFd host = unix_accept(listener.get());
  REQUIRE(host.valid());

  rig.send(VsockRig::guest_header(g, kOpRw), "ping");
  HostReader r(host.get());
  REQUIRE(rig.run_until([&] {
    r.poll();
    return r.data.size() >= 4;
  }));
  CHECK(r.data == "ping");
  REQUIRE(write_all(host.get(), "pong"));
  auto p = in.next();
  REQUIRE(p.has_value());
  CHECK(p->h.op == kOpRw);
  CHECK(p->payload == "pong");

  // No listener on port 53: RST.
  GuestConn none{5001, 53};
  rig.send(VsockRig::guest_header(none, kOpRequest), "");
  auto rst = in.next();
  REQUIRE(rst.has_value());
  CHECK(rst->h.op == kOpRst);
  CHECK(rst->h.src_port == 53);
  CHECK(rst->h.dst_port == 5001);
}

TEST_CASE("shutdown: the guest closing, and host EOF", "[vsock][device]") {
  VsockRig rig;
  rig.post_rx(16);
  Inbox in(rig);
  SECTION("guest SHUTDOWN with both flags closes the host side and gets RST") {
    HostConn c = connect_host(rig, in, 52);
    rig.send(VsockRig::guest_header(c.g, kOpRw), "last words");
    PacketHeader sd = VsockRig::guest_header(c.g, kOpShutdown);
    sd.flags = kShutdownBoth;
    rig.send(sd, "");
    std::string seen;
    REQUIRE(host_closed(rig, c.fd.get(), &seen));
    CHECK(seen == "last words");
    auto rst = in.next();
    REQUIRE(rst.has_value());
    CHECK(rst->h.op == kOpRst);
    CHECK(rst->h.dst_port == 52);
    CHECK(rig.dev->muxer().connection_count() == 0);
  }
  SECTION("host EOF sends SHUTDOWN(SEND); the guest may still send; then RST") {
    HostConn c = connect_host(rig, in, 52);
    REQUIRE(write_all(c.fd.get(), "bye"));
    REQUIRE(::shutdown(c.fd.get(), SHUT_WR) == 0);
    auto p = in.next();
    REQUIRE(p.has_value());
    CHECK(p->h.op == kOpRw);
    CHECK(p->payload == "bye");
    auto sd = in.next();
    REQUIRE(sd.has_value());
    CHECK(sd->h.op == kOpShutdown);
    CHECK(sd->h.flags == kShutdownSend);
    rig.send(VsockRig::guest_header(c.g, kOpRw), "reply");
    HostReader r(c.fd.get());
    REQUIRE(rig.run_until([&] {
      r.poll();
      return r.data.size() >= 5;
    }));
    CHECK(r.data == "reply");
    PacketHeader gsd = VsockRig::guest_header(c.g, kOpShutdown);
    gsd.flags = kShutdownBoth;
    rig.send(gsd, "");
    auto rst = in.next();
    REQUIRE(rst.has_value());
    CHECK(rst->h.op == kOpRst);
    REQUIRE(host_closed(rig, c.fd.get()));
  }
  SECTION("the host closing entirely: SHUTDOWN with both flags, RST from the guest ends it") {
    HostConn c = connect_host(rig, in, 52);
    c.fd.reset();
    auto sd = in.next();
    REQUIRE(sd.has_value());
    CHECK(sd->h.op == kOpShutdown);
    CHECK(sd->h.flags == kShutdownBoth);
    rig.send(VsockRig::guest_header(c.g, kOpRst), "");
    CHECK(rig.dev->muxer().connection_count() == 0);
    CHECK(in.quiet_for(50));
  }
}

TEST_CASE("no RX buffer: packets wait until the guest posts one", "[vsock][device]") {
  VsockRig rig;
  Inbox in(rig);
  UniqueFd fd = unix_connect(rig.path);
  REQUIRE(write_all(fd.get(), "CONNECT 52\n"));
  CHECK(in.quiet_for(100));
  rig.post_rx(1);
  auto req = in.next();
  REQUIRE(req.has_value());
  CHECK(req->h.op == kOpRequest);
}

TEST_CASE("the guest not answering REQUEST times out with RST", "[vsock][device]") {
  MuxerOptions opts;
  opts.timeout = std::chrono::milliseconds(100);
  VsockRig rig(opts);
  rig.post_rx(4);
  Inbox in(rig);
  UniqueFd fd = unix_connect(rig.path);
  REQUIRE(write_all(fd.get(), "CONNECT 52\n"));
  auto req = in.next();
  REQUIRE(req.has_value());
  REQUIRE(req->h.op == kOpRequest);
  auto rst = in.next(2000);
  REQUIRE(rst.has_value());
  CHECK(rst->h.op == kOpRst);
  CHECK(rst->h.src_port == req->h.src_port);
  REQUIRE(host_closed(rig, fd.get()));
  CHECK(rig.dev->muxer().stats().timeouts == 1);
}

TEST_CASE("TRANSPORT_RESET on the event queue drops every connection", "[vsock][device]") {
  VsockRig rig;
  rig.post_rx(8);
  Inbox in(rig);
  HostConn c = connect_host(rig, in, 52);
  auto none = rig.dev->send_transport_reset();
  REQUIRE_FALSE(none.has_value());  // no event buffer posted yet
  CHECK(none.error().is(Errc::unavailable));
  rig.post_event_buffer(8);
  REQUIRE(rig.dev->send_transport_reset().has_value());
  REQUIRE(rig.ev_drv.used_idx() == 1);
  auto [id, len] = rig.ev_drv.used_elem(0);
  CHECK(len == 4);
  (void)id;
  CHECK(rig.dev->stats().events_sent == 1);
  CHECK(rig.dev->muxer().connection_count() == 0);
  REQUIRE(host_closed(rig, c.fd.get()));
  // The device keeps serving new connections.
  HostConn d = connect_host(rig, in, 52);
  CHECK(rig.dev->muxer().connection_count() == 1);
}

TEST_CASE("reset() closes connections and keeps the listening socket", "[vsock][device]") {
  VsockRig rig;
  rig.post_rx(8);
  Inbox in(rig);
  HostConn c = connect_host(rig, in, 52);
  {
    std::lock_guard guard(rig.lock);
    rig.dev->reset();
  }
  CHECK_FALSE(rig.dev->activated());
  HostReader r(c.fd.get());
  r.poll();
  CHECK(r.closed());
  UniqueFd again = unix_connect(rig.path);  // waits in the backlog for the next activation
  REQUIRE(again.valid());
  REQUIRE(write_all(again.get(), "CONNECT 52\n"));
  rig.kick(kTxQueue);  // ignored while not active
  rig.run_for(20);
  CHECK(rig.dev->muxer().pending_count() == 0);

  {
    std::lock_guard guard(rig.lock);
    rig.reactivate();
  }
  rig.post_rx(8);
  Inbox in2(rig);
  auto req = in2.next();
  REQUIRE(req.has_value());
  CHECK(req->h.op == kOpRequest);
  CHECK(req->h.dst_port == 52);
}

TEST_CASE("EVENT_IDX negotiated: handshake and data still flow", "[vsock][device]") {
  VsockRig rig(MuxerOptions{}, true);
  rig.post_rx(16);
  Inbox in(rig);
  HostConn c = connect_host(rig, in, 52);
  REQUIRE(write_all(c.fd.get(), "x"));
  auto p = in.next();
  REQUIRE(p.has_value());
  CHECK(p->payload == "x");
  rig.send(VsockRig::guest_header(c.g, kOpRw), "y");
  HostReader r(c.fd.get());
  REQUIRE(rig.run_until([&] {
    r.poll();
    return !r.data.empty();
  }));
  CHECK(r.data == "y");
}
