// SPDX-License-Identifier: Apache-2.0
// Fuzz target: vmm/vsock as a hostile guest driver sees it. Each input becomes a series of TX
// chains fed to a VsockDevice that has one live host-initiated connection (and a host
// listener for guest connects to port 80), interleaved with host-side writes.
//
// Input: records of {u8 ctl, u8 len, len body bytes}.
//   ctl & 3, the mode: 0 raw chain bytes (maybe shorter than a header); 1 a header for the
//     live connection, op = body[0] % 9, flags = body[1], fwd_cnt += body[2], payload =
//     body[4..] repeated to body[3] * 256 bytes (at least once); 2 a header from guest port
//     6000 + body[0] % 8 to host port 80 or 81, op = body[2] % 9, payload = body[3..];
//     3 a valid live-connection header XORed with body[0..44], payload = body[44..].
//   (ctl >> 2) & 7: descriptors - 1 (split points from the input); ctl & 0x20: the header's
//   len lies (payload size + body[3]); ctl & 0x40: the host writes body bytes on the live
//   connection; ctl & 0x80: kick TX and run the loop now (otherwise the chain waits).
// Invariants: every RX packet is well-formed (CIDs, STREAM, a known op, used length = header +
// len, data only in RW, within the buffer); host bytes reach the guest in order on the live
// connection; the connection count stays within the limit; and afterwards the device still
// completes a fresh CONNECT handshake. A hang is a timeout; a crash is a crash.
// NEXUS_FUZZ_VERBOSE=1 prints the device's and muxer's counters for each input.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz.hpp"
#include "tests/vmm/vsock/vsock_rig.hpp"

using namespace nexus;
using namespace nexus::vmm;
using namespace nexus::vmm::vsock;
using namespace nexus::vmm::vsock::testing;

namespace {

constexpr uint32_t kLivePort = 52;
constexpr uint32_t kRxRoom = 4096;

std::string encode(const PacketHeader& h) {
  std::string bytes(kHeaderSize, '\0');
  encode_header(h, std::span<uint8_t, kHeaderSize>(reinterpret_cast<uint8_t*>(bytes.data()),
                                                   kHeaderSize));
  return bytes;
}

class Harness {
 public:
  Harness() {
    rig_.post_rx(64, kRxRoom);
    listener_ = unix_listen(rig_.path + "_80");
    live_ = handshake(kLivePort, &live_key_);
    FUZZ_CHECK(live_.valid());
    guest_.port = kLivePort;
    guest_.host_port = live_key_.local_port;
  }

  /// Collect RX packets and check each one.
  void drain() {
    for (auto& p : rig_.take_rx()) {
      FUZZ_CHECK(p.used_len == kHeaderSize + p.h.len);
      FUZZ_CHECK(p.h.len <= kRxRoom);
      FUZZ_CHECK(p.h.src_cid == kHostCid);
      FUZZ_CHECK(p.h.dst_cid == VsockRig::kGuestCid);
      FUZZ_CHECK(p.h.type == kTypeStream);
      FUZZ_CHECK(p.h.op >= kOpRequest && p.h.op <= kOpCreditRequest);
      FUZZ_CHECK(p.h.op == kOpRw || p.h.len == 0);
      if (p.h.op == kOpRequest) FUZZ_CHECK(p.h.src_port >= (1u << 30));
      if (p.h.op == kOpRw && p.h.src_port == live_key_.local_port && p.h.dst_port == kLivePort) {
        FUZZ_CHECK(received_ + p.payload.size() <= written_.size());
        FUZZ_CHECK(written_.compare(received_, p.payload.size(), p.payload) == 0);
        received_ += p.payload.size();
      }
      inbox_.push_back(std::move(p));
    }
    for (UniqueFd fd = unix_accept(listener_.get()); fd.valid(); fd = unix_accept(listener_.get()))
      accepted_.push_back(std::move(fd));
    FUZZ_CHECK(rig_.dev->muxer().connection_count() <= MuxerOptions{}.max_connections);
  }

  void step() {
    (void)rig_.loop->run_once(rig_.lock, 0);
    drain();
  }

  void host_write(std::string_view data) {
    if (!live_.valid()) return;
    ssize_t n = ::send(live_.get(), data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) written_.append(data.substr(0, static_cast<size_t>(n)));
  }

  void chain(const std::string& bytes, fuzz::Rng& rng, size_t descriptors, bool kick) {
    std::vector<uint32_t> split;
    size_t left = bytes.size();
    for (size_t i = 1; i < descriptors && left > 1; ++i) {
      uint32_t n = static_cast<uint32_t>(rng.range(1, std::min<size_t>(left - 1, 64)));
      split.push_back(n);
      left -= n;
    }
    // Chains waiting (the device stops taking TX while its RST backlog is full) must not
    // wrap the descriptor ring or fill the data area: let RX drain the backlog first.
    bool crowded = rig_.tx_pending() > 16 ||
                   (rig_.tx_pending() > 0 &&
                    rig_.tx_drv.data_next() + bytes.size() + 4096 > VsockRig::kTxDataEnd);
    for (int i = 0; crowded && rig_.tx_pending() > 0; ++i) {
      FUZZ_CHECK(i < 10000);  // TX must drain once RX buffers come back
      rig_.kick(kTxQueue);
      step();
    }
    rig_.push_tx(bytes, split);
    if (kick) {
      rig_.kick(kTxQueue);
      step();
    }
  }

  PacketHeader live_header(uint16_t op) const { return VsockRig::guest_header(guest_, op); }

  /// Run the loop a little, then prove the device still serves a fresh connection.
  void finish() {
    rig_.kick(kTxQueue);
    for (int i = 0; i < 8; ++i) step();
    ConnKey key;
    UniqueFd fresh = handshake(4242, &key);
    FUZZ_CHECK(fresh.valid());
    static const bool verbose = std::getenv("NEXUS_FUZZ_VERBOSE") != nullptr;
    if (verbose) {
      const auto& d = rig_.dev->stats();
      const auto& m = rig_.dev->muxer().stats();
      std::fprintf(stderr,
                   "  tx %llu (dropped %llu, rejected %llu), rx %llu, rst %llu, timeouts %llu, "
                   "host bytes %zu/%zu reached the guest, connections %zu\n",
                   static_cast<unsigned long long>(d.tx_packets),
                   static_cast<unsigned long long>(d.tx_dropped),
                   static_cast<unsigned long long>(d.tx_rejected),
                   static_cast<unsigned long long>(d.rx_packets),
                   static_cast<unsigned long long>(m.rst_sent),
                   static_cast<unsigned long long>(m.timeouts), received_, written_.size(),
                   rig_.dev->muxer().connection_count());
    }
  }

 private:
  UniqueFd handshake(uint32_t port, ConnKey* key) {
    UniqueFd fd = unix_connect(rig_.path);
    FUZZ_CHECK(fd.valid());
    FUZZ_CHECK(write_all(fd.get(), "CONNECT " + std::to_string(port) + "\n"));
    std::optional<PacketHeader> req;
    auto find = [&] {
      drain();
      for (const auto& p : inbox_)
        if (p.h.op == kOpRequest && p.h.dst_port == port) req = p.h;
      return req.has_value();
    };
    FUZZ_CHECK(rig_.run_until(find, 3000));
    GuestConn g{port, req->src_port};
    *key = ConnKey{req->src_port, port};
    inbox_.clear();
    rig_.send(VsockRig::guest_header(g, kOpResponse), "");
    HostReader r(fd.get());
    FUZZ_CHECK(rig_.run_until(
        [&] {
          r.poll();
          return r.data.find('\n') != std::string::npos || r.closed();
        },
        3000));
    FUZZ_CHECK(r.data == "OK " + std::to_string(key->local_port) + "\n");
    int fl = ::fcntl(fd.get(), F_GETFL);
    (void)::fcntl(fd.get(), F_SETFL, fl | O_NONBLOCK);
    return fd;
  }

  VsockRig rig_;
  UniqueFd listener_;
  UniqueFd live_;
  ConnKey live_key_;
  GuestConn guest_;
  std::string written_;
  size_t received_ = 0;
  std::vector<RxPacket> inbox_;
  std::vector<UniqueFd> accepted_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Harness h;
  auto rng = fuzz::Rng::from_prefix(fuzz::as_view(data, size));
  size_t pos = 0;
  int records = 0;
  while (pos + 2 <= size && records++ < 512) {
    uint8_t ctl = data[pos];
    size_t len = std::min<size_t>(data[pos + 1], size - pos - 2);
    std::string body(reinterpret_cast<const char*>(data + pos + 2), len);
    pos += 2 + len;
    auto at = [&](size_t i) -> uint8_t { return i < body.size() ? static_cast<uint8_t>(body[i]) : 0; };

    std::string bytes;
    switch (ctl & 3) {
      case 0:
        bytes = body;
        break;
      case 1: {
        PacketHeader ph = h.live_header(static_cast<uint16_t>(at(0) % 9));
        ph.flags = at(1);
        ph.fwd_cnt += at(2);
        std::string unit = body.size() > 4 ? body.substr(4) : std::string("p");
        std::string payload = unit;
        while (payload.size() < size_t{at(3)} * 256) payload += unit;
        ph.len = static_cast<uint32_t>(payload.size()) + ((ctl & 0x20) ? at(3) : 0);
        bytes = encode(ph) + payload;
        break;
      }
      case 2: {
        PacketHeader ph = VsockRig::guest_header(static_cast<uint16_t>(at(2) % 9), 6000 + at(0) % 8,
                                                 at(1) % 2 ? 80 : 81);
        std::string payload = body.size() > 3 ? body.substr(3) : std::string();
        ph.len = static_cast<uint32_t>(payload.size()) + ((ctl & 0x20) ? at(3) : 0);
        bytes = encode(ph) + payload;
        break;
      }
      default: {
        PacketHeader ph = h.live_header(kOpRw);
        std::string payload = body.size() > kHeaderSize ? body.substr(kHeaderSize) : std::string();
        ph.len = static_cast<uint32_t>(payload.size());
        bytes = encode(ph);
        for (size_t i = 0; i < kHeaderSize; ++i) bytes[i] = static_cast<char>(bytes[i] ^ at(i));
        bytes += payload;
        break;
      }
    }
    h.chain(bytes, rng, ((ctl >> 2) & 7) + 1, (ctl & 0x80) != 0);
    if (ctl & 0x40) {
      h.host_write(body.empty() ? std::string("host") : body);
      h.step();
    }
  }
  h.finish();
  return 0;
}
