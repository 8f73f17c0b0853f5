// SPDX-License-Identifier: Apache-2.0
// Tests for vmm/virtio/block: requests through a real virtqueue against a real temp file —
// read, write, flush, GET_ID, range and length checks, read-only disks, requests split
// across descriptors in every way SEG_MAX allows, and chains without a status byte.
#include <catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "tests/vmm/virtio/device_rig.hpp"
#include "vmm/virtio/block.hpp"

using namespace nexus;
using namespace nexus::vmm;
using namespace nexus::vmm::virtio;
using namespace nexus::vmm::virtio::testing;

namespace {

constexpr uint64_t kSectors = 64;

/// A temp file of `bytes` bytes, byte i = pattern(i); removed on destruction.
struct TempDisk {
  explicit TempDisk(uint64_t bytes = kSectors * 512) {
    char tmpl[] = "/tmp/nexus-test-blk-XXXXXX";
    int fd = ::mkstemp(tmpl);
    REQUIRE(fd >= 0);
    path = tmpl;
    std::string data(bytes, '\0');
    for (uint64_t i = 0; i < bytes; ++i) data[i] = pattern(i);
    REQUIRE(::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
    ::close(fd);
  }
  ~TempDisk() { ::unlink(path.c_str()); }
  static char pattern(uint64_t i) { return static_cast<char>((i * 7 + i / 512) & 0xff); }
  std::string read(uint64_t off, size_t len) const {
    std::string s(len, '\0');
    int fd = ::open(path.c_str(), O_RDONLY);
    REQUIRE(::pread(fd, s.data(), len, static_cast<off_t>(off)) == static_cast<ssize_t>(len));
    ::close(fd);
    return s;
  }
  std::string expected(uint64_t off, size_t len) const {
    std::string s(len, '\0');
    for (size_t i = 0; i < len; ++i) s[i] = pattern(off + i);
    return s;
  }
  std::string path;
};

std::string header(uint32_t type, uint64_t sector) {
  std::string h(16, '\0');
  std::memcpy(h.data(), &type, 4);
  std::memcpy(h.data() + 8, &sector, 8);
  return h;
}

std::unique_ptr<BlockDevice> open_disk(const TempDisk& disk, bool ro = false,
                                       std::string serial = "nexus-serial-1") {
  auto dev = BlockDevice::open(disk.path, ro, std::move(serial));
  REQUIRE(dev.has_value());
  return std::move(*dev);
}

/// A request with the header in one readable buffer, `data` (readable for OUT, else
/// writable) in buffers of the given sizes, and a 1-byte status buffer.
struct Request {
  std::vector<Seg> segs;
  size_t status_index = 0;
  Request(DeviceRig& rig, uint32_t type, uint64_t sector, std::vector<uint32_t> data_lens) {
    bool out = type == kBlockReqOut;
    segs.push_back({16, false});
    for (uint32_t len : data_lens) segs.push_back({len, !out});
    segs.push_back({1, true});
    status_index = segs.size() - 1;
    uint16_t head = rig.drv.add_chain(segs);
    rig.drv.write_bytes(segs[0].gpa, header(type, sector));
    rig.drv.write_bytes(segs[status_index].gpa, "\xee");  // "not written yet"
    rig.drv.publish(head);
  }
  uint8_t status(const DeviceRig& rig) const {
    return static_cast<uint8_t>(rig.drv.read_bytes(segs[status_index].gpa, 1)[0]);
  }
  std::string data(const DeviceRig& rig) const {
    std::string s;
    for (size_t i = 1; i < status_index; ++i) s += rig.drv.read_bytes(segs[i].gpa, segs[i].len);
    return s;
  }
  void fill(const DeviceRig& rig, const std::string& bytes) {
    size_t off = 0;
    for (size_t i = 1; i < status_index; ++i) {
      rig.drv.write_bytes(segs[i].gpa, bytes.substr(off, segs[i].len));
      off += segs[i].len;
    }
  }
};

}  // namespace

TEST_CASE("virtio-blk: config space and features", "[virtio][block]") {
  TempDisk disk;
  auto dev = open_disk(disk);
  CHECK(dev->device_id() == 2);
  CHECK(dev->capacity() == kSectors);
  CHECK(dev->queue_count() == 1);
  CHECK(dev->queue_max_size(0) == 256);
  uint64_t capacity = 0;
  dev->read_config(0, &capacity, 8);
  CHECK(capacity == kSectors);
  uint32_t seg_max = 0;
  dev->read_config(12, &seg_max, 4);
  CHECK(seg_max == 254);
  uint8_t past[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  dev->read_config(60, past, 8);
  for (uint8_t b : past) CHECK(b == 0);
  uint8_t wrapped = 1;
  dev->read_config(~0ull, &wrapped, 1);
  CHECK(wrapped == 0);
  CHECK((dev->features() & kFeatureRingEventIdx));
  CHECK((dev->features() & kBlockFeatureFlush));
  CHECK((dev->features() & kBlockFeatureSegMax));
  CHECK_FALSE((dev->features() & kBlockFeatureRo));
  auto ro = open_disk(disk, true);
  CHECK((ro->features() & kBlockFeatureRo));
  CHECK(ro->read_only());
}

TEST_CASE("virtio-blk: opening checks the file", "[virtio][block]") {
  TempDisk odd(1000);
  auto r = BlockDevice::open(odd.path, false, "");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message().find(odd.path) != std::string::npos);
  CHECK(r.error().message().find("multiple of 512") != std::string::npos);
  auto missing = BlockDevice::open("/nonexistent/disk.img", true, "");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().message().find("/nonexistent/disk.img") != std::string::npos);
  auto dir = BlockDevice::open("/tmp", true, "");
  REQUIRE_FALSE(dir.has_value());
  TempDisk empty(0);
  auto zero = BlockDevice::open(empty.path, false, "");
  REQUIRE(zero.has_value());
  CHECK((*zero)->capacity() == 0);
}

TEST_CASE("virtio-blk: read, write, flush, get_id", "[virtio][block]") {
  TempDisk disk;
  auto dev = open_disk(disk);
  DeviceRig rig(*dev);

  SECTION("read two sectors") {
    Request req(rig, kBlockReqIn, 2, {1024});
    CHECK(rig.kick() == 1);
    CHECK(req.status(rig) == kBlockStatusOk);
    CHECK(req.data(rig) == disk.expected(1024, 1024));
    CHECK(rig.last_used_len() == 1025);
    CHECK(rig.irq.used == 1);
  }
  SECTION("write a sector, then read it back") {
    std::string bytes(512, 'W');
    Request w(rig, kBlockReqOut, 3, {512});
    w.fill(rig, bytes);
    CHECK(rig.kick() == 1);
    CHECK(w.status(rig) == kBlockStatusOk);
    CHECK(rig.last_used_len() == 1);
    CHECK(disk.read(3 * 512, 512) == bytes);
    CHECK(disk.read(2 * 512, 512) == disk.expected(1024, 512));  // neighbours untouched
    CHECK(disk.read(4 * 512, 512) == disk.expected(2048, 512));
    Request r(rig, kBlockReqIn, 3, {512});
    rig.kick();
    CHECK(r.data(rig) == bytes);
  }
  SECTION("flush") {
    Request req(rig, kBlockReqFlush, 0, {});
    CHECK(rig.kick() == 1);
    CHECK(req.status(rig) == kBlockStatusOk);
    CHECK(rig.last_used_len() == 1);
  }
  SECTION("get_id: 20 bytes, zero padded") {
    Request req(rig, kBlockReqGetId, 0, {20});
    CHECK(rig.kick() == 1);
    CHECK(req.status(rig) == kBlockStatusOk);
    CHECK(req.data(rig) == std::string("nexus-serial-1\0\0\0\0\0\0", 20));
    CHECK(rig.last_used_len() == 21);
  }
  SECTION("unsupported request types") {
    Request discard(rig, 11, 0, {});
    Request bogus(rig, 0xdeadbeef, 0, {512});
    CHECK(rig.kick() == 2);
    CHECK(discard.status(rig) == kBlockStatusUnsupp);
    CHECK(bogus.status(rig) == kBlockStatusUnsupp);
    CHECK(rig.last_used_len() == 1);
  }
  SECTION("the last sector and the whole disk are in range") {
    Request last(rig, kBlockReqIn, kSectors - 1, {512});
    Request whole(rig, kBlockReqIn, 0, {kSectors * 512});
    CHECK(rig.kick() == 2);
    CHECK(last.status(rig) == kBlockStatusOk);
    CHECK(whole.status(rig) == kBlockStatusOk);
    CHECK(whole.data(rig) == disk.expected(0, kSectors * 512));
  }
  SECTION("one batch, one interrupt") {
    Request a(rig, kBlockReqIn, 0, {512});
    Request b(rig, kBlockReqIn, 1, {512});
    Request c(rig, kBlockReqFlush, 0, {});
    CHECK(rig.kick() == 3);
    CHECK(rig.irq.used == 1);
    CHECK(rig.kick() == 0);
    CHECK(rig.irq.used == 1);
  }
}

TEST_CASE("virtio-blk: out-of-range and malformed requests get IOERR", "[virtio][block]") {
  TempDisk disk;
  auto dev = open_disk(disk);
  DeviceRig rig(*dev);
  SECTION("sector past the end") {
    Request req(rig, kBlockReqIn, kSectors, {512});
    rig.kick();
    CHECK(req.status(rig) == kBlockStatusIoErr);
    CHECK(rig.last_used_len() == 1);
  }
  SECTION("runs off the end") {
    Request req(rig, kBlockReqOut, kSectors - 1, {1024});
    rig.kick();
    CHECK(req.status(rig) == kBlockStatusIoErr);
    CHECK(disk.read((kSectors - 1) * 512, 512) == disk.expected((kSectors - 1) * 512, 512));
  }
  SECTION("sector + length overflows u64") {
    Request req(rig, kBlockReqIn, ~0ull - 1, {1024});
    Request req2(rig, kBlockReqOut, ~0ull / 512, {512});
    rig.kick();
    CHECK(req.status(rig) == kBlockStatusIoErr);
    CHECK(req2.status(rig) == kBlockStatusIoErr);
  }
  SECTION("data not a multiple of 512") {
    Request r(rig, kBlockReqIn, 0, {100});
    Request w(rig, kBlockReqOut, 0, {513});
    rig.kick();
    CHECK(r.status(rig) == kBlockStatusIoErr);
    CHECK(w.status(rig) == kBlockStatusIoErr);
    CHECK(disk.read(0, 513) == disk.expected(0, 513));
  }
  SECTION("header shorter than 16 bytes") {
    std::vector<Seg> segs{{8, false}, {1, true}};
    uint16_t head = rig.drv.add_chain(segs);
    rig.drv.write_bytes(segs[0].gpa, header(kBlockReqIn, 0).substr(0, 8));
    rig.drv.publish(head);
    rig.kick();
    CHECK(rig.drv.read_bytes(segs[1].gpa, 1)[0] == kBlockStatusIoErr);
  }
  SECTION("a disk that shrank under us") {
    REQUIRE(::truncate(disk.path.c_str(), 0) == 0);
    Request req(rig, kBlockReqIn, 4, {512});
    rig.kick();
    CHECK(req.status(rig) == kBlockStatusIoErr);
  }
}

TEST_CASE("virtio-blk: a read-only disk rejects writes", "[virtio][block]") {
  TempDisk disk;
  auto dev = open_disk(disk, true);
  DeviceRig rig(*dev);
  Request w(rig, kBlockReqOut, 0, {512});
  w.fill(rig, std::string(512, 'X'));
  Request r(rig, kBlockReqIn, 0, {512});
  Request f(rig, kBlockReqFlush, 0, {});
  CHECK(rig.kick() == 3);
  CHECK(w.status(rig) == kBlockStatusIoErr);
  CHECK(disk.read(0, 512) == disk.expected(0, 512));
  CHECK(r.status(rig) == kBlockStatusOk);
  CHECK(r.data(rig) == disk.expected(0, 512));
  CHECK(f.status(rig) == kBlockStatusOk);
}

TEST_CASE("virtio-blk: requests split across descriptors", "[virtio][block]") {
  TempDisk disk;
  auto dev = open_disk(disk);
  DeviceRig rig(*dev, true);

  SECTION("header split across two descriptors") {
    std::vector<Seg> segs{{5, false}, {11, false}, {512, true}, {1, true}};
    uint16_t head = rig.drv.add_chain(segs);
    std::string h = header(kBlockReqIn, 7);
    rig.drv.write_bytes(segs[0].gpa, h.substr(0, 5));
    rig.drv.write_bytes(segs[1].gpa, h.substr(5));
    rig.drv.publish(head);
    CHECK(rig.kick() == 1);
    CHECK(rig.drv.read_bytes(segs[3].gpa, 1)[0] == kBlockStatusOk);
    CHECK(rig.drv.read_bytes(segs[2].gpa, 512) == disk.expected(7 * 512, 512));
  }
  SECTION("read data across several descriptors") {
    Request req(rig, kBlockReqIn, 1, {100, 412, 1, 511, 1024});
    CHECK(rig.kick() == 1);
    CHECK(req.status(rig) == kBlockStatusOk);
    CHECK(req.data(rig) == disk.expected(512, 2048));
    CHECK(rig.last_used_len() == 2049);
  }
  SECTION("write: header and data in one buffer, data across more") {
    std::string bytes(1024, '\0');
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 13);
    std::vector<Seg> segs{{16 + 300, false}, {724, false}, {1, true}};
    uint16_t head = rig.drv.add_chain(segs);
    rig.drv.write_bytes(segs[0].gpa, header(kBlockReqOut, 10) + bytes.substr(0, 300));
    rig.drv.write_bytes(segs[1].gpa, bytes.substr(300));
    rig.drv.publish(head);
    CHECK(rig.kick() == 1);
    CHECK(rig.drv.read_bytes(segs[2].gpa, 1)[0] == kBlockStatusOk);
    CHECK(disk.read(10 * 512, 1024) == bytes);
  }
  SECTION("status byte shares the last data buffer") {
    std::vector<Seg> segs{{16, false}, {200, true}, {313, true}};
    uint16_t head = rig.drv.add_chain(segs);
    rig.drv.write_bytes(segs[0].gpa, header(kBlockReqIn, 5));
    rig.drv.publish(head);
    CHECK(rig.kick() == 1);
    CHECK(rig.drv.read_bytes(segs[2].gpa + 312, 1)[0] == kBlockStatusOk);
    std::string got =
        rig.drv.read_bytes(segs[1].gpa, 200) + rig.drv.read_bytes(segs[2].gpa, 312);
    CHECK(got == disk.expected(5 * 512, 512));
    CHECK(rig.last_used_len() == 513);
  }
  SECTION("an indirect request") {
    std::vector<Seg> segs{{16, false}, {512, true}, {1, true}};
    uint16_t head = rig.drv.add_indirect(segs);
    rig.drv.write_bytes(segs[0].gpa, header(kBlockReqIn, 9));
    rig.drv.publish(head);
    CHECK(rig.kick() == 1);
    CHECK(rig.drv.read_bytes(segs[2].gpa, 1)[0] == kBlockStatusOk);
    CHECK(rig.drv.read_bytes(segs[1].gpa, 512) == disk.expected(9 * 512, 512));
  }
  SECTION("many chains with EVENT_IDX: avail_event follows, one interrupt per batch") {
    for (int round = 0; round < 3; ++round) {
      rig.drv.set_used_event(rig.drv.used_idx());
      for (int i = 0; i < 100; ++i) Request(rig, kBlockReqIn, i % kSectors, {512});
      CHECK(rig.kick() == 100);
      CHECK(rig.irq.used == round + 1);
      CHECK(rig.drv.avail_event() == rig.queues[0].next_avail());
    }
  }
}

TEST_CASE("virtio-blk: a chain without a status byte is returned with length 0",
          "[virtio][block]") {
  TempDisk disk;
  auto dev = open_disk(disk);
  DeviceRig rig(*dev);
  std::vector<Seg> bad{{16, false}, {512, false}};
  uint16_t bad_head = rig.drv.add_chain(bad);
  rig.drv.write_bytes(bad[0].gpa, header(kBlockReqOut, 0));
  rig.drv.write_bytes(bad[1].gpa, std::string(512, 'Z'));
  rig.drv.publish(bad_head);
  Request good(rig, kBlockReqIn, 0, {512});
  CHECK(rig.kick() == 2);
  auto [id, len] = rig.drv.used_elem(0);
  CHECK(id == bad_head);
  CHECK(len == 0);
  CHECK(disk.read(0, 512) == disk.expected(0, 512));  // nothing written
  CHECK(good.status(rig) == kBlockStatusOk);
  CHECK_FALSE(rig.queues[0].broken());
}

TEST_CASE("virtio-blk: a broken queue stops processing without hanging", "[virtio][block]") {
  TempDisk disk;
  auto dev = open_disk(disk);
  DeviceRig rig(*dev);
  Request good(rig, kBlockReqIn, 0, {512});
  rig.drv.set_desc(200, 0x300000, 16, kDescFlagNext, 200);  // a self loop
  rig.drv.publish(200);
  CHECK(rig.kick() == 1);
  CHECK(good.status(rig) == kBlockStatusOk);
  CHECK(rig.queues[0].broken());
  CHECK(rig.queues[0].broken_reason().find("loops") != std::string::npos);
  CHECK(rig.irq.used == 1);
  CHECK(rig.kick() == 0);
}
