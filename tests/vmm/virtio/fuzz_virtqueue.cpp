// SPDX-License-Identifier: Apache-2.0
// Fuzz target: vmm/virtio/queue as a hostile driver sees it. The input becomes the queue
// configuration, the descriptor table, the avail ring and the data area (where indirect
// tables live) in guard-paged guest memory; the device pops and completes chains until the
// queue is empty or broken.
//
// Input: u8 size_log2, u8 flags, u16 avail.idx, u16 avail.flags, u16 used_event,
//   [flags & kOwnAddrs: u32 desc, u32 avail, u32 used ring addresses],
//   16 * size descriptor bytes, 2 * size avail ring bytes, then data-area bytes (also the
//   source of used lengths).
// Invariants: every buffer handed out lies in guest memory and is non-empty; at most `size`
// chains per avail.idx; an error leaves the queue broken and yielding nothing; the reader and
// writer move exactly the chain's bytes; the used index matches what was added. A stray access
// hits a guard page; a hang is a timeout. NEXUS_FUZZ_VERBOSE=1 prints how each input ended.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "tests/fuzz/fuzz.hpp"
#include "tests/vmm/virtio/guarded_memory.hpp"
#include "vmm/virtio/queue.hpp"

using namespace nexus::vmm;
using namespace nexus::vmm::virtio;

namespace {

constexpr uint8_t kEventIdx = 1;
constexpr uint8_t kMaskAddrs = 2;  // fold descriptor addresses/lengths near guest memory
constexpr uint8_t kOwnAddrs = 4;   // ring addresses from the input
constexpr uint8_t kUndo = 8;       // undo_pop() and pop again every other chain

constexpr uint64_t kDesc = 0x1000, kAvail = 0x3000, kUsed = 0x4000, kData = 0x8000;
constexpr uint64_t kLowSize = 0x10000;          // region 0: [0, 64 KiB)
constexpr uint64_t kHighGpa = 0x100000;         // region 1 after a hole
constexpr uint64_t kHighSize = 0x4000;

testing::GuardedMemory& guarded() {
  static testing::GuardedMemory g({{0, kLowSize}, {kHighGpa, kHighSize}});
  return g;
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
  const uint8_t* rest() const { return d_ + pos_; }
  size_t left() const { return n_ - pos_; }

 private:
  const uint8_t* d_;
  size_t n_;
  size_t pos_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto& g = guarded();
  g.clear();
  const GuestMemory& mem = g.memory();
  Input in(data, size);

  const uint16_t qsize = static_cast<uint16_t>(1u << (in.take<uint8_t>() % 9));
  const uint8_t flags = in.take<uint8_t>();
  const uint16_t avail_idx = in.take<uint16_t>();
  const uint16_t avail_flags = in.take<uint16_t>();
  const uint16_t used_event = in.take<uint16_t>();

  Queue q(256);
  q.config.size = qsize;
  q.config.desc_addr = kDesc;
  q.config.avail_addr = kAvail;
  q.config.used_addr = kUsed;
  if (flags & kOwnAddrs) {
    q.config.desc_addr = in.take<uint32_t>() % (kHighGpa + kHighSize + 0x1000);
    q.config.avail_addr = in.take<uint32_t>() % (kHighGpa + kHighSize + 0x1000);
    q.config.used_addr = in.take<uint32_t>() % (kHighGpa + kHighSize + 0x1000);
  }
  q.config.ready = true;
  q.set_event_idx(flags & kEventIdx);
  static const bool verbose = std::getenv("NEXUS_FUZZ_VERBOSE") != nullptr;
  if (auto v = q.validate(mem); !v) {  // the transport would refuse DRIVER_OK
    if (verbose) std::fprintf(stderr, "  invalid queue: %s\n", v.error().message().c_str());
    return 0;
  }

  // The driver's writes: descriptors (optionally folded near memory), avail ring, data area.
  for (uint16_t i = 0; i < qsize; ++i) {
    uint64_t addr = in.take<uint64_t>();
    uint32_t len = in.take<uint32_t>();
    uint16_t dflags = in.take<uint16_t>();
    uint16_t next = in.take<uint16_t>();
    if (flags & kMaskAddrs) {
      addr %= kHighGpa + kHighSize + 0x2000;
      len &= 0x3fff;
      next = static_cast<uint16_t>(next % (qsize + 1));
    }
    uint8_t raw[16];
    std::memcpy(raw, &addr, 8);
    std::memcpy(raw + 8, &len, 4);
    std::memcpy(raw + 12, &dflags, 2);
    std::memcpy(raw + 14, &next, 2);
    FUZZ_CHECK(mem.write(q.config.desc_addr + 16ull * i, raw, 16));
  }
  for (uint16_t i = 0; i < qsize; ++i) {
    uint16_t head = in.take<uint16_t>();
    if (flags & kMaskAddrs) head = static_cast<uint16_t>(head % (qsize + 1));
    FUZZ_CHECK(mem.write_obj(q.config.avail_addr + 4 + 2ull * i, head));
  }
  FUZZ_CHECK(mem.write_obj(q.config.avail_addr, avail_flags));
  FUZZ_CHECK(mem.write_obj(q.config.avail_addr + 2, avail_idx));
  FUZZ_CHECK(mem.write_obj(q.config.avail_addr + 4 + 2ull * qsize, used_event));
  const size_t data_len = std::min<size_t>(in.left(), kLowSize - kData);
  if (data_len) FUZZ_CHECK(mem.write(kData, in.rest(), data_len));
  nexus::fuzz::Rng rng(size ^ (uint64_t{avail_idx} << 32));

  // The chains' buffers (and, with input-chosen addresses, the used ring) may overlap the
  // descriptor table and avail ring; the device writing there would be the guest moving
  // avail.idx under us. Put the driver's rings back after each device write, so that the
  // only driver writes are the ones above and at most `size` chains can be popped.
  std::vector<uint8_t> desc_copy(16ull * qsize), avail_copy(6 + 2ull * qsize);
  FUZZ_CHECK(mem.read(q.config.desc_addr, desc_copy.data(), desc_copy.size()));
  FUZZ_CHECK(mem.read(q.config.avail_addr, avail_copy.data(), avail_copy.size()));
  auto restore_rings = [&] {
    FUZZ_CHECK(mem.write(q.config.desc_addr, desc_copy.data(), desc_copy.size()));
    FUZZ_CHECK(mem.write(q.config.avail_addr, avail_copy.data(), avail_copy.size()));
  };

  unsigned chains = 0;
  static uint8_t scratch[1 << 16];
  for (;;) {
    auto c = q.pop(mem);
    if (!c) {
      FUZZ_CHECK(q.broken());
      FUZZ_CHECK(!c.error().message().empty());
      FUZZ_CHECK(q.broken_reason() == c.error().message());
      auto again = q.pop(mem);
      FUZZ_CHECK(again.has_value() && !again->has_value());
      FUZZ_CHECK(!q.add_used(mem, 0, 0).has_value());
      break;
    }
    if (!*c) {
      FUZZ_CHECK(!q.broken());
      q.enable_notification(mem);
      break;
    }
    Chain& chain = **c;
    ++chains;
    FUZZ_CHECK(chains <= qsize);  // avail.idx never moves: at most `size` entries
    FUZZ_CHECK(chain.head < qsize);
    FUZZ_CHECK(chain.readable.size() + chain.writable.size() <= size_t{qsize} + kMaxQueueSize);
    for (const auto* list : {&chain.readable, &chain.writable})
      for (const Buffer& b : *list) FUZZ_CHECK(b.len > 0 && mem.contains(b.gpa, b.len));

    if ((flags & kUndo) && chains % 2 == 1) {
      q.undo_pop();
      auto again = q.pop(mem);
      FUZZ_CHECK(again.has_value() && again->has_value());
      FUZZ_CHECK((*again)->head == chain.head);
      FUZZ_CHECK((*again)->readable.size() == chain.readable.size());
      FUZZ_CHECK((*again)->writable.size() == chain.writable.size());
    }

    ChainReader reader(mem, chain.readable);
    uint64_t got = 0;
    for (size_t n; (n = reader.read(scratch, rng.range(1, sizeof scratch))) > 0;) got += n;
    FUZZ_CHECK(got == chain.readable_bytes());
    FUZZ_CHECK(reader.remaining() == 0);
    ChainWriter writer(mem, chain.writable);
    const uint64_t want = rng.range(0, chain.writable_bytes() + 16);
    uint64_t put = 0;
    while (put < want) {
      size_t n = writer.write(scratch, std::min<uint64_t>(want - put, sizeof scratch));
      if (n == 0) break;
      put += n;
    }
    FUZZ_CHECK(put == std::min(want, chain.writable_bytes()));
    FUZZ_CHECK(writer.written() == put);
    restore_rings();

    // The used ring is inside guest memory (validate()), so add_used cannot fail here.
    FUZZ_CHECK(q.add_used(mem, chain.head, static_cast<uint32_t>(put)).has_value());
    uint16_t used_idx = 0;
    FUZZ_CHECK(mem.read_obj(q.config.used_addr + 2, used_idx));
    FUZZ_CHECK(used_idx == q.next_used());
    restore_rings();
    if (rng.range(0, 3) == 0) (void)q.needs_interrupt(mem);
  }
  (void)q.needs_interrupt(mem);
  FUZZ_CHECK(q.next_used() == static_cast<uint16_t>(chains));
  if (verbose)
    std::fprintf(stderr, "  size %u: %u chains, %s\n", qsize, chains,
                 q.broken() ? q.broken_reason().c_str() : "then empty");
  return 0;
}
