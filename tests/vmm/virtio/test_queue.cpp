// SPDX-License-Identifier: Apache-2.0
// Tests for vmm/virtio/queue: chains through real rings in guest memory, index wrap,
// hostile drivers (each breaks the queue with an error naming the problem), indirect tables,
// interrupt suppression, and the chain reader/writer.
#include <catch.hpp>

#include <string>

#include "tests/vmm/virtio/fake_driver.hpp"
#include "vmm/virtio/queue.hpp"

using namespace nexus;
using namespace nexus::vmm;
using namespace nexus::vmm::virtio;
using nexus::vmm::virtio::testing::FakeDriver;
using nexus::vmm::virtio::testing::Seg;

namespace {

GuestMemory make_memory() {
  auto mem = GuestMemory::allocate(16 << 20);
  REQUIRE(mem.has_value());
  return std::move(*mem);
}

struct Rig {
  GuestMemory mem = make_memory();
  FakeDriver drv{mem, 16};
  Queue q{256};
  Rig() { drv.configure(q); }
};

/// Pop expecting a broken-queue error that mentions `what`; then the queue yields nothing.
void require_breaks(Rig& r, const std::string& what) {
  auto c = r.q.pop(r.mem);
  REQUIRE_FALSE(c.has_value());
  INFO(c.error().message());
  CHECK(c.error().message().find(what) != std::string::npos);
  CHECK(r.q.broken());
  CHECK(r.q.broken_reason() == c.error().message());
  for (int i = 0; i < 3; ++i) {
    auto again = r.q.pop(r.mem);
    REQUIRE(again.has_value());
    CHECK_FALSE(again->has_value());
  }
  CHECK_FALSE(r.q.add_used(r.mem, 0, 0).has_value());
}

}  // namespace

TEST_CASE("validate checks size, alignment and ring placement", "[virtio][queue]") {
  Rig r;
  CHECK(r.q.validate(r.mem).has_value());
  Queue q = r.q;
  q.config.size = 12;
  CHECK_FALSE(q.validate(r.mem).has_value());
  q.config.size = 0;
  CHECK_FALSE(q.validate(r.mem).has_value());
  q.config.size = 512;  // > max 256
  CHECK_FALSE(q.validate(r.mem).has_value());
  q = r.q;
  q.config.desc_addr += 8;
  CHECK(q.validate(r.mem).error().message().find("aligned") != std::string::npos);
  q = r.q;
  q.config.avail_addr += 1;
  CHECK_FALSE(q.validate(r.mem).has_value());
  q = r.q;
  q.config.used_addr += 2;
  CHECK_FALSE(q.validate(r.mem).has_value());
  q = r.q;
  q.config.used_addr = (16 << 20) - 16;
  CHECK(q.validate(r.mem).error().message().find("used ring") != std::string::npos);
}

TEST_CASE("a chain round-trips: readable then writable buffers, used entry published",
          "[virtio][queue]") {
  Rig r;
  auto empty = r.q.pop(r.mem);
  REQUIRE(empty.has_value());
  CHECK_FALSE(empty->has_value());

  std::vector<Seg> segs{{10, false}, {0, false}, {6, false}, {32, true}, {8, true}};
  uint16_t head = r.drv.push(segs);
  r.drv.write_bytes(segs[0].gpa, "0123456789");
  r.drv.write_bytes(segs[2].gpa, "abcdef");

  auto c = r.q.pop(r.mem);
  REQUIRE(c.has_value());
  REQUIRE(c->has_value());
  Chain& chain = **c;
  CHECK(chain.head == head);
  REQUIRE(chain.readable.size() == 2);  // the zero-length descriptor is left out
  REQUIRE(chain.writable.size() == 2);
  CHECK(chain.readable[0].gpa == segs[0].gpa);
  CHECK(chain.readable_bytes() == 16);
  CHECK(chain.writable_bytes() == 40);

  ChainReader reader(r.mem, chain.readable);
  CHECK(reader.remaining() == 16);
  char buf[32] = {};
  CHECK(reader.read(buf, 12) == 12);
  CHECK(std::string(buf, 12) == "0123456789ab");
  CHECK(reader.remaining() == 4);
  CHECK(reader.skip(1) == 1);
  CHECK(reader.read(buf, 32) == 3);
  CHECK(std::string(buf, 3) == "def");
  CHECK(reader.read(buf, 1) == 0);

  ChainWriter writer(r.mem, chain.writable);
  std::string payload(36, 'x');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>('A' + i % 26);
  CHECK(writer.write(payload.data(), payload.size()) == 36);
  CHECK(writer.remaining() == 4);
  CHECK(writer.write("123456", 6) == 4);
  CHECK(writer.written() == 40);
  CHECK(r.drv.read_bytes(segs[3].gpa, 32) == payload.substr(0, 32));
  CHECK(r.drv.read_bytes(segs[4].gpa, 8) == payload.substr(32) + "1234");

  REQUIRE(r.q.add_used(r.mem, chain.head, static_cast<uint32_t>(writer.written())).has_value());
  CHECK(r.drv.used_idx() == 1);
  CHECK(r.drv.used_elem(0) == std::pair<uint32_t, uint32_t>{head, 40});
  CHECK(r.q.next_avail() == 1);
  CHECK(r.q.next_used() == 1);
  auto none = r.q.pop(r.mem);
  REQUIRE(none.has_value());
  CHECK_FALSE(none->has_value());
}

TEST_CASE("undo_pop hands the same chain out again", "[virtio][queue]") {
  Rig r;
  uint16_t head = r.drv.push({{4, true}});
  auto a = r.q.pop(r.mem);
  REQUIRE(a.value().has_value());
  r.q.undo_pop();
  auto b = r.q.pop(r.mem);
  REQUIRE(b.value().has_value());
  CHECK((*b)->head == head);
}

TEST_CASE("indices wrap past 65535", "[virtio][queue]") {
  Rig r;
  uint64_t buf = r.drv.alloc(8);
  for (uint32_t n = 0; n < 70000; ++n) {
    uint16_t head = r.drv.push({{8, true, buf}});
    auto c = r.q.pop(r.mem);
    REQUIRE(c.has_value());
    REQUIRE(c->has_value());
    REQUIRE((*c)->head == head);
    REQUIRE(r.q.add_used(r.mem, head, n & 7).has_value());
  }
  CHECK(r.q.next_avail() == static_cast<uint16_t>(70000));
  CHECK(r.drv.used_idx() == static_cast<uint16_t>(70000));
  CHECK(r.drv.used_elem(static_cast<uint16_t>(69999)).second == (69999 & 7));
  // A full ring across the wrap point is still accepted (pending == size).
  for (int i = 0; i < 16; ++i) r.drv.push({{8, true, buf}});
  for (int i = 0; i < 16; ++i) REQUIRE(r.q.pop(r.mem).value().has_value());
  CHECK_FALSE(r.q.pop(r.mem).value().has_value());
  CHECK_FALSE(r.q.broken());
}

TEST_CASE("broken drivers break the queue with a named error", "[virtio][queue]") {
  Rig r;
  SECTION("avail index too far ahead") {
    r.drv.set_avail_idx(17);
    require_breaks(r, "avail index 17 is 17 entries ahead of the device, queue size 16");
  }
  SECTION("avail index behind the device (wraps to far ahead)") {
    r.drv.push({{8, true}});
    REQUIRE(r.q.pop(r.mem).value().has_value());
    r.drv.set_avail_idx(0);
    require_breaks(r, "65535 entries ahead");
  }
  SECTION("head index out of range") {
    r.drv.set_avail_entry(0, 16);
    r.drv.set_avail_idx(1);
    require_breaks(r, "descriptor index 16");
  }
  SECTION("next index out of range") {
    r.drv.set_desc(0, 0x200000, 8, kDescFlagNext, 40);
    r.drv.publish(0);
    require_breaks(r, "next index 40 is out of range");
  }
  SECTION("buffer outside guest memory") {
    r.drv.set_desc(0, (16 << 20) - 4, 8, 0, 0);
    r.drv.publish(0);
    require_breaks(r, "outside guest memory");
  }
  SECTION("address + length overflows u64") {
    r.drv.set_desc(0, ~0ull - 3, 8, kDescFlagWrite, 0);
    r.drv.publish(0);
    require_breaks(r, "overflows");
  }
  SECTION("a loop") {
    r.drv.set_desc(0, 0x200000, 8, kDescFlagNext, 1);
    r.drv.set_desc(1, 0x200000, 8, kDescFlagNext, 2);
    r.drv.set_desc(2, 0x200000, 8, kDescFlagNext, 0);
    r.drv.publish(0);
    require_breaks(r, "loops");
  }
  SECTION("a self loop of zero-length descriptors") {
    r.drv.set_desc(3, 0, 0, kDescFlagNext, 3);
    r.drv.publish(3);
    require_breaks(r, "loops");
  }
  SECTION("readable after writable") {
    r.drv.set_desc(0, 0x200000, 8, kDescFlagWrite | kDescFlagNext, 1);
    r.drv.set_desc(1, 0x200100, 8, 0, 0);
    r.drv.publish(0);
    require_breaks(r, "device-readable after a device-writable");
  }
  SECTION("indirect table with a bad length") {
    r.drv.set_desc(0, 0x200000, 24, kDescFlagIndirect, 0);
    r.drv.publish(0);
    require_breaks(r, "table length 24 is not a nonzero multiple of 16");
  }
  SECTION("indirect table of length zero") {
    r.drv.set_desc(0, 0x200000, 0, kDescFlagIndirect, 0);
    r.drv.publish(0);
    require_breaks(r, "table length 0");
  }
  SECTION("indirect table outside guest memory") {
    r.drv.set_desc(0, (16 << 20) - 16, 32, kDescFlagIndirect, 0);
    r.drv.publish(0);
    require_breaks(r, "table at");
  }
  SECTION("nested indirect") {
    std::vector<Seg> segs{{16, false}, {16, true}};
    uint16_t head = r.drv.add_indirect(segs);
    // Make the table's first entry indirect itself.
    uint64_t table = 0;
    r.mem.read_obj(r.drv.desc_addr() + 16ull * head, table);
    FakeDriver::write_desc_at(r.mem, table, table, 32, kDescFlagIndirect, 0);
    r.drv.publish(head);
    require_breaks(r, "nested indirect");
  }
  SECTION("indirect NEXT outside the table") {
    std::vector<Seg> segs{{16, false}, {16, true}};
    uint16_t head = r.drv.add_indirect(segs);
    uint64_t table = 0;
    r.mem.read_obj(r.drv.desc_addr() + 16ull * head, table);
    FakeDriver::write_desc_at(r.mem, table, segs[0].gpa, 16, kDescFlagNext, 2);
    r.drv.publish(head);
    require_breaks(r, "next index 2 is out of range, table size 2");
  }
  SECTION("a loop inside an indirect table") {
    std::vector<Seg> segs{{16, false}, {16, false}};
    uint16_t head = r.drv.add_indirect(segs);
    uint64_t table = 0;
    r.mem.read_obj(r.drv.desc_addr() + 16ull * head, table);
    FakeDriver::write_desc_at(r.mem, table + 16, segs[1].gpa, 16, kDescFlagNext, 0);
    r.drv.publish(head);
    require_breaks(r, "loops");
  }
}

TEST_CASE("indirect tables are followed", "[virtio][queue]") {
  Rig r;
  std::vector<Seg> segs{{16, false}, {100, false}, {512, true}, {1, true}};
  uint16_t head = r.drv.add_indirect(segs);
  r.drv.publish(head);
  // Direct descriptors may precede the indirect one.
  std::vector<Seg> direct{{4, false}};
  uint16_t head2 = r.drv.add_chain(direct);
  std::vector<Seg> rest{{8, false}, {2, true}};
  uint16_t ind = r.drv.add_indirect(rest);
  r.drv.set_desc(head2, direct[0].gpa, 4, kDescFlagNext, ind);
  r.drv.publish(head2);

  auto c = r.q.pop(r.mem).value();
  REQUIRE(c.has_value());
  CHECK(c->head == head);
  CHECK(c->readable.size() == 2);
  CHECK(c->writable.size() == 2);
  CHECK(c->readable_bytes() == 116);
  CHECK(c->writable_bytes() == 513);
  CHECK(c->writable[0].gpa == segs[2].gpa);

  auto c2 = r.q.pop(r.mem).value();
  REQUIRE(c2.has_value());
  CHECK(c2->head == head2);
  CHECK(c2->readable_bytes() == 12);
  CHECK(c2->writable_bytes() == 2);
}

TEST_CASE("interrupt suppression without EVENT_IDX", "[virtio][queue]") {
  Rig r;
  CHECK_FALSE(r.q.needs_interrupt(r.mem));  // nothing added
  uint16_t head = r.drv.push({{4, true}});
  REQUIRE(r.q.pop(r.mem).value().has_value());
  REQUIRE(r.q.add_used(r.mem, head, 0).has_value());
  CHECK(r.q.needs_interrupt(r.mem));
  CHECK_FALSE(r.q.needs_interrupt(r.mem));  // reset
  r.drv.set_avail_flags(kAvailFlagNoInterrupt);
  head = r.drv.push({{4, true}});
  REQUIRE(r.q.pop(r.mem).value().has_value());
  REQUIRE(r.q.add_used(r.mem, head, 0).has_value());
  CHECK_FALSE(r.q.needs_interrupt(r.mem));
}

TEST_CASE("EVENT_IDX: used_event decides the interrupt, avail_event asks for kicks",
          "[virtio][queue]") {
  Rig r;
  r.q.set_event_idx(true);
  uint64_t buf = r.drv.alloc(4);
  auto complete = [&](int n) {
    for (int i = 0; i < n; ++i) {
      uint16_t head = r.drv.push({{4, true, buf}});
      REQUIRE(r.q.pop(r.mem).value().has_value());
      REQUIRE(r.q.add_used(r.mem, head, 0).has_value());
    }
  };
  // used_event 0: the driver wants an interrupt when entry 0 is used.
  r.drv.set_used_event(0);
  complete(1);
  CHECK(r.q.needs_interrupt(r.mem));
  // Now the driver asks for an interrupt only after used idx passes 4 (entry 4 used).
  r.drv.set_used_event(4);
  complete(2);  // used idx 3
  CHECK_FALSE(r.q.needs_interrupt(r.mem));
  complete(1);  // used idx 4: entry 3 used, not yet 4
  CHECK_FALSE(r.q.needs_interrupt(r.mem));
  complete(2);  // used idx 6: crossed 4 within this batch
  CHECK(r.q.needs_interrupt(r.mem));
  // Past the event in an earlier batch: no more interrupts until the driver moves it.
  complete(1);
  CHECK_FALSE(r.q.needs_interrupt(r.mem));
  // The formula across the u16 wrap.
  for (int i = 0; i < 65530 / 16; ++i) complete(16), (void)r.q.needs_interrupt(r.mem);
  uint16_t now = r.q.next_used();
  r.drv.set_used_event(static_cast<uint16_t>(now + 10));
  complete(10);
  CHECK_FALSE(r.q.needs_interrupt(r.mem));
  complete(1);
  CHECK(r.q.needs_interrupt(r.mem));

  r.q.enable_notification(r.mem);
  CHECK(r.drv.avail_event() == r.q.next_avail());
}

TEST_CASE("enable_notification is a no-op without EVENT_IDX; reset clears everything",
          "[virtio][queue]") {
  Rig r;
  r.drv.push({{4, true}});
  REQUIRE(r.q.pop(r.mem).value().has_value());
  r.q.enable_notification(r.mem);
  CHECK(r.drv.avail_event() == 0);
  r.drv.set_avail_idx(100);
  CHECK_FALSE(r.q.pop(r.mem).has_value());
  CHECK(r.q.broken());
  r.q.reset();
  CHECK_FALSE(r.q.broken());
  CHECK(r.q.broken_reason().empty());
  CHECK(r.q.next_avail() == 0);
  CHECK(r.q.config.max_size == 256);
  CHECK_FALSE(r.q.config.ready);
  CHECK(r.q.pop(r.mem).value() == std::nullopt);  // not ready: nothing
}
