// SPDX-License-Identifier: Apache-2.0
// Fuzz target: vmm/virtio/block serving requests a driver builds from the input, against a
// small temp-file disk, in guard-paged guest memory. A shadow copy of the disk predicts every
// status byte, used length, read result and the disk's final contents.
//
// Input: u8 flags (bit0 read-only disk, bit1 EVENT_IDX), then requests:
//   u8 type selector, u8 sector selector (bit7: a raw u64 sector follows), u8 mode
//   (bits0-2: segments - 1, bit3: indirect table, bit4: kick after this request),
//   per segment u16 (bits0-12 length, bit15 device-writable), then the OUT payload bytes.
// Readable segments are placed before writable ones (a well-formed chain); the 16-byte
// header is written across the readable segments wherever it falls.
// NEXUS_FUZZ_VERBOSE=1 prints each request's type, sector, status and used length.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz.hpp"
#include "tests/vmm/virtio/fake_driver.hpp"
#include "tests/vmm/virtio/guarded_memory.hpp"
#include "vmm/virtio/block.hpp"

using namespace nexus;
using namespace nexus::vmm;
using namespace nexus::vmm::virtio;
using nexus::vmm::virtio::testing::FakeDriver;
using nexus::vmm::virtio::testing::Seg;

namespace {

constexpr uint64_t kSectors = 16;
constexpr uint64_t kDiskBytes = kSectors * 512;
constexpr uint64_t kRings = 0x1000;
constexpr uint64_t kData = 0x10000;
constexpr uint64_t kLowSize = 1 << 20;
constexpr uint16_t kQueueSize = 256;
constexpr size_t kMaxRequests = 512;
const std::string kSerial = "fuzz-serial-0123456789";  // longer than 20: truncated

testing::GuardedMemory& guarded() {
  static testing::GuardedMemory g({{0, kLowSize}, {4 << 20, 0x10000}});
  return g;
}

int disk_fd() {
  static int fd = [] {
    char tmpl[] = "/tmp/nexus-fuzz-blk-XXXXXX";
    int f = ::mkstemp(tmpl);
    if (f < 0) std::abort();
    ::unlink(tmpl);
    return f;
  }();
  return fd;
}

class Input {
 public:
  Input(const uint8_t* d, size_t n) : d_(d), n_(n) {}
  template <class T>
  T take() {
    T v{};
    size_t k = std::min(sizeof(T), n_ - pos_);
    if (k) std::memcpy(&v, d_ + pos_, k);
    pos_ += k;
    return v;
  }
  std::string bytes(size_t n) {
    size_t k = std::min(n, n_ - pos_);
    std::string s(reinterpret_cast<const char*>(d_ + pos_), k);
    pos_ += k;
    s.resize(n, '\0');
    return s;
  }
  bool empty() const { return pos_ >= n_; }

 private:
  const uint8_t* d_;
  size_t n_;
  size_t pos_ = 0;
};

class Irq : public Interrupt {
 public:
  void signal_used() override { ++used; }
  void signal_config() override {}
  int used = 0;
};

struct Pending {
  uint16_t head = 0;
  uint32_t type = 0;
  uint64_t sector = 0;
  std::vector<Seg> segs;  // readable first, then writable
  std::string payload;    // readable bytes after the header
};

/// Bytes of the writable segments, in order.
std::string writable_bytes(const FakeDriver& drv, const Pending& p) {
  std::string s;
  for (const Seg& g : p.segs)
    if (g.writable && g.len) s += drv.read_bytes(g.gpa, g.len);
  return s;
}

bool in_range(uint64_t sector, uint64_t bytes) {
  return bytes % 512 == 0 && bytes / 512 <= kSectors && sector <= kSectors - bytes / 512;
}

/// Check one completed request against the shadow disk (updated for successful writes).
void check(const FakeDriver& drv, const Pending& p, uint32_t used_len, bool ro,
           std::string& shadow) {
  uint64_t readable = 0, writable = 0;
  for (const Seg& g : p.segs) (g.writable ? writable : readable) += g.len;
  if (writable == 0) {
    FUZZ_CHECK(used_len == 0);
    return;
  }
  const std::string out = writable_bytes(drv, p);
  const uint8_t status = static_cast<uint8_t>(out.back());
  const uint64_t data = writable - 1;
  if (readable < 16) {
    FUZZ_CHECK(status == kBlockStatusIoErr);
    FUZZ_CHECK(used_len == 1);
    return;
  }
  switch (p.type) {
    case kBlockReqIn:
      if (in_range(p.sector, data)) {
        FUZZ_CHECK(status == kBlockStatusOk);
        FUZZ_CHECK(used_len == data + 1);
        FUZZ_CHECK(out.compare(0, data, shadow, p.sector * 512, data) == 0);
      } else {
        FUZZ_CHECK(status == kBlockStatusIoErr);
        FUZZ_CHECK(used_len == 1);
      }
      break;
    case kBlockReqOut: {
      const uint64_t len = readable - 16;
      const bool ok = !ro && in_range(p.sector, len);
      FUZZ_CHECK(status == (ok ? kBlockStatusOk : kBlockStatusIoErr));
      FUZZ_CHECK(used_len == 1);
      if (ok) shadow.replace(p.sector * 512, len, p.payload);
      break;
    }
    case kBlockReqFlush:
      FUZZ_CHECK(status == kBlockStatusOk);
      FUZZ_CHECK(used_len == 1);
      break;
    case kBlockReqGetId: {
      const uint64_t n = std::min<uint64_t>(data, 20);
      FUZZ_CHECK(status == kBlockStatusOk);
      FUZZ_CHECK(used_len == n + 1);
      std::string id = kSerial.substr(0, 20);
      FUZZ_CHECK(out.compare(0, n, id, 0, n) == 0);
      break;
    }
    default:
      FUZZ_CHECK(status == kBlockStatusUnsupp);
      FUZZ_CHECK(used_len == 1);
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto& g = guarded();
  g.clear();
  const GuestMemory& mem = g.memory();
  Input in(data, size);
  const uint8_t flags = in.take<uint8_t>();
  const bool ro = flags & 1;

  // A fresh disk with a known pattern, and its shadow.
  std::string shadow(kDiskBytes, '\0');
  for (uint64_t i = 0; i < kDiskBytes; ++i) shadow[i] = static_cast<char>(i * 31 + i / 512);
  FUZZ_CHECK(::ftruncate(disk_fd(), 0) == 0);
  FUZZ_CHECK(::pwrite(disk_fd(), shadow.data(), shadow.size(), 0) ==
             static_cast<ssize_t>(shadow.size()));
  auto dev = BlockDevice::from_fd(UniqueFd(::dup(disk_fd())), ro, kSerial, "fuzz disk");
  FUZZ_CHECK(dev.has_value());
  FUZZ_CHECK((*dev)->capacity() == kSectors);

  FakeDriver drv(mem, kQueueSize, kRings, kData);
  std::vector<Queue> queues(1, Queue(kQueueSize));
  drv.configure(queues[0]);
  FUZZ_CHECK(queues[0].validate(mem).has_value());
  queues[0].set_event_idx(flags & 2);
  Irq irq;
  ActivateContext ctx;
  ctx.memory = &mem;
  ctx.queues = &queues;
  ctx.interrupt = &irq;
  FUZZ_CHECK((*dev)->activate(ctx).has_value());

  std::vector<Pending> batch;
  size_t descs = 0;
  int kicks = 0;
  auto kick = [&] {
    const uint16_t before = drv.used_idx();
    (*dev)->queue_notify(0);
    ++kicks;
    FUZZ_CHECK(!queues[0].broken());
    FUZZ_CHECK(static_cast<uint16_t>(drv.used_idx() - before) == batch.size());
    FUZZ_CHECK(irq.used <= kicks);
    for (size_t i = 0; i < batch.size(); ++i) {
      auto [id, len] = drv.used_elem(static_cast<uint16_t>(before + i));
      FUZZ_CHECK(id == batch[i].head);
      check(drv, batch[i], len, ro, shadow);
      static const bool verbose = std::getenv("NEXUS_FUZZ_VERBOSE") != nullptr;
      if (verbose) {
        std::string w = writable_bytes(drv, batch[i]);
        std::fprintf(stderr, "  type %u sector %llu: used %u status %d\n", batch[i].type,
                     static_cast<unsigned long long>(batch[i].sector), len,
                     w.empty() ? -1 : static_cast<uint8_t>(w.back()));
      }
    }
    batch.clear();
    descs = 0;
    drv.rewind_data(kData);
  };

  static const uint32_t kTypes[] = {kBlockReqIn, kBlockReqOut, kBlockReqFlush, kBlockReqGetId,
                                    kBlockReqIn, kBlockReqOut, 11};
  for (size_t n = 0; n < kMaxRequests && !in.empty(); ++n) {
    Pending p;
    const uint8_t sel = in.take<uint8_t>();
    p.type = sel % 8 < 7 ? kTypes[sel % 8] : sel;
    const uint8_t ssel = in.take<uint8_t>();
    p.sector = (ssel & 0x80) ? in.take<uint64_t>() : ssel & 31;
    const uint8_t mode = in.take<uint8_t>();
    const size_t nsegs = 1 + (mode & 7);
    const bool indirect = mode & 8;
    std::vector<Seg> readable, writable;
    uint64_t bytes = 0;
    for (size_t i = 0; i < nsegs; ++i) {
      const uint16_t v = in.take<uint16_t>();
      Seg s{static_cast<uint32_t>(v & 0x1fff), (v & 0x8000) != 0};
      bytes += s.len;
      (s.writable ? writable : readable).push_back(s);
    }
    // Room for this request's buffers (and an indirect table) in this batch?
    if (descs + (indirect ? 1 : nsegs) > kQueueSize ||
        drv.data_next() + bytes + 16 * nsegs + 64 > kLowSize)
      kick();
    p.segs = readable;
    p.segs.insert(p.segs.end(), writable.begin(), writable.end());
    p.head = indirect ? drv.add_indirect(p.segs) : drv.add_chain(p.segs);
    descs += indirect ? 1 : nsegs;

    // The readable stream: header, then payload from the input.
    std::string hdr(16, '\0');
    std::memcpy(hdr.data(), &p.type, 4);
    std::memcpy(hdr.data() + 8, &p.sector, 8);
    uint64_t readable_len = 0;
    for (const Seg& s : readable) readable_len += s.len;
    if (readable_len > 16) p.payload = in.bytes(readable_len - 16);
    std::string stream = hdr + p.payload;
    size_t off = 0;
    for (size_t i = 0; i < readable.size(); ++i) {
      drv.write_bytes(p.segs[i].gpa, stream.substr(off, p.segs[i].len));
      off += p.segs[i].len;
    }
    drv.publish(p.head);
    batch.push_back(std::move(p));
    if (mode & 0x10) kick();
  }
  kick();

  std::string disk(kDiskBytes, '\0');
  FUZZ_CHECK(::pread(disk_fd(), disk.data(), disk.size(), 0) == static_cast<ssize_t>(disk.size()));
  FUZZ_CHECK(disk == shadow);
  (*dev)->reset();
  return 0;
}
