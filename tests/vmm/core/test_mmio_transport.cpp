// SPDX-License-Identifier: Apache-2.0
// Tests for the virtio-mmio transport's register model, driven the way Linux's virtio_mmio
// driver drives it, over a real virtio-rng device (no KVM: kicks are not wired to a VM).
#include <catch.hpp>

#include <cstring>
#include <mutex>

#include "vmm/core/mmio_transport.hpp"
#include "vmm/event_loop.hpp"
#include "vmm/virtio/rng.hpp"

using namespace nexus;
using namespace nexus::vmm;

namespace {

struct Bench {
  GuestMemory mem = std::move(*GuestMemory::allocate(4 << 20));
  std::unique_ptr<EventLoop> loop = std::move(*EventLoop::create());
  MmioTransport t{std::make_unique<virtio::RngDevice>(), mem, *loop, 0xC0001000, 5};

  uint32_t rd(uint64_t off) {
    uint32_t v;
    t.read(off, reinterpret_cast<uint8_t*>(&v), 4);
    return v;
  }
  void wr(uint64_t off, uint32_t v) { t.write(off, reinterpret_cast<const uint8_t*>(&v), 4); }

  // The driver's init up to FEATURES_OK (virtio 1.2, 4.2.3.1).
  void negotiate(uint64_t features) {
    wr(0x70, 0);
    wr(0x70, 1);
    wr(0x70, 1 | 2);
    wr(0x24, 0);
    wr(0x20, static_cast<uint32_t>(features));
    wr(0x24, 1);
    wr(0x20, static_cast<uint32_t>(features >> 32));
    wr(0x70, 1 | 2 | 8);
  }
  void setup_queue(uint16_t size, uint64_t desc, uint64_t avail, uint64_t used) {
    wr(0x30, 0);
    wr(0x38, size);
    wr(0x80, static_cast<uint32_t>(desc));
    wr(0x84, static_cast<uint32_t>(desc >> 32));
    wr(0x90, static_cast<uint32_t>(avail));
    wr(0x94, static_cast<uint32_t>(avail >> 32));
    wr(0xA0, static_cast<uint32_t>(used));
    wr(0xA4, static_cast<uint32_t>(used >> 32));
    wr(0x44, 1);
  }
};

constexpr uint64_t kVersion1 = 1ull << 32;

}  // namespace

TEST_CASE("mmio: identity registers", "[vmm][mmio]") {
  Bench b;
  CHECK(b.rd(0x000) == 0x74726976);
  CHECK(b.rd(0x004) == 2);
  CHECK(b.rd(0x008) == 4);  // rng
  b.wr(0x14, 1);
  CHECK((b.rd(0x10) & 1) == 1);  // VERSION_1 is offered in the high window
  b.wr(0x30, 0);
  CHECK(b.rd(0x34) > 0);
  b.wr(0x30, 7);
  CHECK(b.rd(0x34) == 0);  // no such queue
}

TEST_CASE("mmio: a full driver init activates the device", "[vmm][mmio]") {
  Bench b;
  b.negotiate(kVersion1);
  CHECK(b.rd(0x70) == (1 | 2 | 8));
  b.setup_queue(16, 0x10000, 0x11000, 0x12000);
  CHECK(b.rd(0x44) == 1);
  b.wr(0x70, 1 | 2 | 8 | 4);
  CHECK(b.rd(0x70) == (1 | 2 | 8 | 4));
  CHECK(b.t.last_error().empty());
}

namespace {
// One buffer of `len` bytes at 0x20000 on queue 0's avail ring (desc 0x10000, avail 0x11000).
void offer_buffer(Bench& b, uint32_t len) {
  struct {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
  } desc{0x20000, len, 2 /* WRITE */, 0};
  REQUIRE(b.mem.write_obj(0x10000, desc));
  REQUIRE(b.mem.write_obj<uint16_t>(0x11004, 0));  // ring[0] = desc 0
  REQUIRE(b.mem.write_obj<uint16_t>(0x11002, 1));  // avail idx
}
uint16_t used_idx(Bench& b) {
  uint16_t v = 0;
  REQUIRE(b.mem.read_obj(0x12002, v));
  return v;
}
}  // namespace

TEST_CASE("mmio: the device is activated on the event thread, after DRIVER_OK", "[vmm][mmio]") {
  Bench b;
  REQUIRE(b.t.start());
  std::mutex lock;
  b.negotiate(kVersion1);
  b.setup_queue(16, 0x10000, 0x11000, 0x12000);
  offer_buffer(b, 64);
  b.wr(0x70, 1 | 2 | 8 | 4);
  CHECK(used_idx(b) == 0);  // the vCPU's write only queued the activation
  REQUIRE(b.loop->run_once(lock, 1000));
  CHECK(used_idx(b) == 1);  // activated, and the buffer offered before was served
  CHECK(b.t.last_error().empty());
}

TEST_CASE("mmio: a reset before the event thread runs drops the queued activation", "[vmm][mmio]") {
  Bench b;
  REQUIRE(b.t.start());
  std::mutex lock;
  b.negotiate(kVersion1);
  b.setup_queue(16, 0x10000, 0x11000, 0x12000);
  offer_buffer(b, 64);
  b.wr(0x70, 1 | 2 | 8 | 4);
  b.wr(0x70, 0);
  REQUIRE(b.loop->run_once(lock, 1000));
  CHECK(used_idx(b) == 0);  // never activated: nothing served
  CHECK(b.rd(0x70) == 0);
}

TEST_CASE("mmio: FEATURES_OK is refused without VERSION_1", "[vmm][mmio]") {
  Bench b;
  b.negotiate(0);
  CHECK((b.rd(0x70) & 8) == 0);
}

TEST_CASE("mmio: a driver cannot ack features the device did not offer", "[vmm][mmio]") {
  Bench b;
  b.wr(0x70, 1);
  b.wr(0x70, 3);
  b.wr(0x24, 0);
  b.wr(0x20, 0xFFFFFFFF);
  b.wr(0x24, 1);
  b.wr(0x20, 0xFFFFFFFF);
  b.wr(0x70, 1 | 2 | 8);
  REQUIRE((b.rd(0x70) & 8) == 8);  // VERSION_1 was among them
  // Queue state is writable now; a bad ring address must not activate.
  b.setup_queue(16, 0x10008 /* misaligned */, 0x11000, 0x12000);
  b.wr(0x70, 1 | 2 | 8 | 4);
  CHECK((b.rd(0x70) & 64) == 64);  // DEVICE_NEEDS_RESET
  CHECK_THAT(b.t.last_error(), Catch::Contains("queue 0"));
}

TEST_CASE("mmio: rings outside guest memory or a bad size need a reset", "[vmm][mmio]") {
  for (auto [size, desc] : {std::pair<uint16_t, uint64_t>{16, 0x7FFFF000ull << 8},
                            std::pair<uint16_t, uint64_t>{3, 0x10000},
                            std::pair<uint16_t, uint64_t>{0, 0x10000}}) {
    Bench b;
    b.negotiate(kVersion1);
    b.setup_queue(size, desc, 0x11000, 0x12000);
    b.wr(0x70, 1 | 2 | 8 | 4);
    CHECK((b.rd(0x70) & 64) == 64);
    CHECK_FALSE(b.t.last_error().empty());
  }
}

TEST_CASE("mmio: out-of-order status writes are ignored, 0 resets", "[vmm][mmio]") {
  Bench b;
  b.wr(0x70, 4);  // DRIVER_OK first
  CHECK(b.rd(0x70) == 0);
  b.wr(0x70, 1);
  b.wr(0x70, 1 | 8);  // FEATURES_OK before DRIVER
  CHECK(b.rd(0x70) == 1);
  b.negotiate(kVersion1);
  b.setup_queue(16, 0x10000, 0x11000, 0x12000);
  b.wr(0x70, 1 | 2 | 8 | 4);
  REQUIRE(b.rd(0x70) == 15);
  b.wr(0x38, 8);  // queue fields are frozen once live
  b.wr(0x70, 0);
  CHECK(b.rd(0x70) == 0);
  b.wr(0x30, 0);
  CHECK(b.rd(0x44) == 0);  // reset cleared the queue
}

TEST_CASE("mmio: odd-sized and unaligned register accesses are ignored", "[vmm][mmio]") {
  Bench b;
  uint8_t byte = 0xAA;
  b.t.read(0x000, &byte, 1);
  CHECK(byte == 0);
  uint32_t v = 0x1;
  b.t.write(0x071, reinterpret_cast<uint8_t*>(&v), 4);
  CHECK(b.rd(0x70) == 0);
  uint8_t big[8];
  b.t.read(0x2000, big, 8);  // config space of rng: none, reads as zero
  for (uint8_t x : big) CHECK(x == 0);
}

TEST_CASE("mmio: interrupt status is acknowledged bit by bit", "[vmm][mmio]") {
  Bench b;
  b.t.signal_used();
  b.t.signal_config();
  CHECK(b.rd(0x60) == 3);
  b.wr(0x64, 1);
  CHECK(b.rd(0x60) == 2);
}
