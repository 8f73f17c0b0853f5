// SPDX-License-Identifier: Apache-2.0
// Split virtqueue, device side: popping descriptor chains (direct and indirect) with every
// index, address and length checked, publishing used entries, and the interrupt/notification
// suppression rules (VRING_AVAIL_F_NO_INTERRUPT, EVENT_IDX). Also the chain gather/scatter
// helpers.
//
// The guest may rewrite the rings while we read them: every field is read once into a local
// and only the local is checked and used.
#include "vmm/virtio/queue.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <bit>

namespace nexus::vmm::virtio {
namespace {

static_assert(std::endian::native == std::endian::little,
              "virtio 1.x rings are little-endian; this code reads them raw");

// Ring layout (virtio 1.x, 2.7): byte offsets and element sizes.
constexpr uint64_t kDescSize = 16;
constexpr uint64_t kAvailRingOffset = 4;  // after u16 flags, u16 idx
constexpr uint64_t kUsedRingOffset = 4;
constexpr uint64_t kUsedElemSize = 8;
// An indirect table may hold at most this many descriptors (Linux never uses more than the
// queue size; the bound keeps a hostile table from making one pop() take long).
constexpr uint64_t kMaxIndirectEntries = kMaxQueueSize;

struct RawDesc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(RawDesc) == kDescSize);

struct RawUsedElem {
  uint32_t id;
  uint32_t len;
};
static_assert(sizeof(RawUsedElem) == kUsedElemSize);

uint64_t avail_bytes(uint16_t n) { return 6 + 2ull * n; }
uint64_t used_bytes(uint16_t n) { return 6 + kUsedElemSize * n; }

}  // namespace

uint64_t Chain::readable_bytes() const noexcept {
  uint64_t n = 0;
  for (const auto& b : readable) n += b.len;
  return n;
}

uint64_t Chain::writable_bytes() const noexcept {
  uint64_t n = 0;
  for (const auto& b : writable) n += b.len;
  return n;
}

Result<void> Queue::validate(const GuestMemory& mem) const {
  const auto& c = config;
  if (c.max_size == 0 || c.max_size > kMaxQueueSize)
    return fail(Errc::invalid_argument, fmt::format("queue maximum size {} is not in [1, {}]",
                                                    c.max_size, kMaxQueueSize));
  if (c.size == 0 || c.size > c.max_size || !std::has_single_bit(c.size))
    return fail(Errc::invalid_argument,
                fmt::format("queue size {} is not a power of two in [1, {}]", c.size, c.max_size));
  struct Ring {
    const char* name;
    uint64_t addr;
    uint64_t align;
    uint64_t bytes;
  };
  const Ring rings[] = {
      {"descriptor table", c.desc_addr, 16, kDescSize * c.size},
      {"available ring", c.avail_addr, 2, avail_bytes(c.size)},
      {"used ring", c.used_addr, 4, used_bytes(c.size)},
  };
  for (const auto& r : rings) {
    if (r.addr % r.align != 0)
      return fail(Errc::invalid_argument,
                  fmt::format("{} at {:#x} is not {}-byte aligned", r.name, r.addr, r.align));
    if (!mem.contains(r.addr, r.bytes))
      return fail(Errc::invalid_argument,
                  fmt::format("{} at {:#x} ({} bytes) is not inside guest memory", r.name, r.addr,
                              r.bytes));
  }
  return {};
}

tl::unexpected<Error> Queue::breaks(std::string why) {
  broken_ = true;
  broken_reason_ = why;
  return fail(Errc::protocol, std::move(why));
}

Result<std::optional<Chain>> Queue::pop(const GuestMemory& mem) {
  if (broken_ || !config.ready || config.size == 0) return std::optional<Chain>();
  const uint16_t size = config.size;

  uint16_t avail_idx = 0;
  if (!mem.read_obj(config.avail_addr + 2, avail_idx))
    return breaks(fmt::format("available ring at {:#x} is outside guest memory",
                              config.avail_addr));
  const uint16_t pending = static_cast<uint16_t>(avail_idx - next_avail_);
  if (pending > size)
    return breaks(fmt::format("avail index {} is {} entries ahead of the device, queue size {}",
                              avail_idx, pending, size));
  if (pending == 0) return std::optional<Chain>();
  // The ring entry and the descriptors were written before avail.idx; see them.
  std::atomic_thread_fence(std::memory_order_acquire);

  uint16_t head = 0;
  const uint64_t slot = config.avail_addr + kAvailRingOffset + 2ull * (next_avail_ % size);
  if (!mem.read_obj(slot, head))
    return breaks(fmt::format("available ring entry at {:#x} is outside guest memory", slot));

  Chain chain;
  chain.head = head;
  if (auto r = walk(mem, head, chain); !r) return breaks(r.error().message());
  ++next_avail_;
  return std::optional<Chain>(std::move(chain));
}

Result<void> Queue::walk(const GuestMemory& mem, uint16_t head, Chain& out) const {
  const uint16_t size = config.size;
  if (head >= size)
    return fail(Errc::protocol,
                fmt::format("descriptor index {} at the head of a chain is out of range, queue "
                            "size {}",
                            head, size));
  // The table being walked: the queue's own, or (one level deep) an indirect one.
  uint64_t table = config.desc_addr;
  uint64_t entries = size;
  bool indirect = false;
  uint64_t budget = size;  // descriptors we may still visit in this table
  bool seen_writable = false;
  uint64_t index = head;

  for (;;) {
    if (budget == 0)
      return fail(Errc::protocol,
                  fmt::format("descriptor chain from head {} loops or is longer than its table "
                              "({} descriptors{})",
                              head, entries, indirect ? ", indirect" : ""));
    --budget;
    RawDesc d{};
    const uint64_t at = table + kDescSize * index;
    if (!mem.read_obj(at, d))
      return fail(Errc::protocol,
                  fmt::format("descriptor {}{} at {:#x} is outside guest memory", index,
                              indirect ? " (indirect)" : "", at));
    const char* where = indirect ? " (indirect)" : "";

    if (d.flags & kDescFlagIndirect) {
      if (indirect)
        return fail(Errc::protocol,
                    fmt::format("descriptor {} in an indirect table is itself indirect (nested "
                                "indirect tables are not allowed)",
                                index));
      if (d.flags & kDescFlagNext)
        return fail(Errc::protocol,
                    fmt::format("indirect descriptor {} also has NEXT set", index));
      if (d.len == 0 || d.len % kDescSize != 0)
        return fail(Errc::protocol,
                    fmt::format("indirect descriptor {}: table length {} is not a nonzero "
                                "multiple of 16",
                                index, d.len));
      if (d.len / kDescSize > kMaxIndirectEntries)
        return fail(Errc::protocol,
                    fmt::format("indirect descriptor {}: table of {} entries exceeds the limit "
                                "of {}",
                                index, d.len / kDescSize, kMaxIndirectEntries));
      if (d.addr + d.len < d.addr)
        return fail(Errc::protocol,
                    fmt::format("indirect descriptor {}: table address {:#x} + length {} "
                                "overflows",
                                index, d.addr, d.len));
      if (!mem.contains(d.addr, d.len))
        return fail(Errc::protocol,
                    fmt::format("indirect descriptor {}: table at {:#x} ({} bytes) is outside "
                                "guest memory",
                                index, d.addr, d.len));
      // The WRITE flag of the descriptor naming the table is ignored (virtio 1.x 2.7.5.3.2).
      table = d.addr;
      entries = d.len / kDescSize;
      indirect = true;
      budget = entries;
      index = 0;
      continue;
    }

    const bool writable = (d.flags & kDescFlagWrite) != 0;
    if (!writable && seen_writable)
      return fail(Errc::protocol,
                  fmt::format("descriptor {}{} is device-readable after a device-writable one",
                              index, where));
    seen_writable = seen_writable || writable;
    if (d.len != 0) {
      if (d.addr + d.len < d.addr)
        return fail(Errc::protocol,
                    fmt::format("descriptor {}{}: address {:#x} + length {} overflows", index,
                                where, d.addr, d.len));
      if (!mem.contains(d.addr, d.len))
        return fail(Errc::protocol,
                    fmt::format("descriptor {}{}: buffer at {:#x} ({} bytes) is outside guest "
                                "memory",
                                index, where, d.addr, d.len));
      (writable ? out.writable : out.readable).push_back({d.addr, d.len});
    }  // zero-length buffers carry nothing; they are kept out of the lists

    if (!(d.flags & kDescFlagNext)) return {};
    if (d.next >= entries)
      return fail(Errc::protocol,
                  fmt::format("descriptor {}{}: next index {} is out of range, table size {}",
                              index, where, d.next, entries));
    index = d.next;
  }
}

Result<void> Queue::add_used(const GuestMemory& mem, uint16_t head, uint32_t len) {
  if (broken_) return fail(Errc::protocol, "queue is broken: " + broken_reason_);
  if (!config.ready || config.size == 0)
    return fail(Errc::conflict, "add_used on a queue that is not ready");
  const uint16_t size = config.size;
  if (head >= size)
    return fail(Errc::internal,
                fmt::format("add_used: head {} is out of range, queue size {}", head, size));
  const RawUsedElem elem{head, len};
  const uint64_t slot = config.used_addr + kUsedRingOffset + kUsedElemSize * (next_used_ % size);
  if (!mem.write_obj(slot, elem))
    return breaks(fmt::format("used ring entry at {:#x} is outside guest memory", slot));
  // The entry must be visible before the index that publishes it.
  std::atomic_thread_fence(std::memory_order_release);
  const uint16_t idx = static_cast<uint16_t>(next_used_ + 1);
  if (!mem.write_obj(config.used_addr + 2, idx))
    return breaks(fmt::format("used ring at {:#x} is outside guest memory", config.used_addr));
  next_used_ = idx;
  return {};
}

bool Queue::needs_interrupt(const GuestMemory& mem) {
  const uint16_t old_used = signalled_used_;
  const uint16_t new_used = next_used_;
  signalled_used_ = new_used;
  if (old_used == new_used || !config.ready || config.size == 0) return false;
  // Our used.idx store must be ordered before the load of the driver's suppression state.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!event_idx_) {
    uint16_t flags = 0;
    if (!mem.read_obj(config.avail_addr, flags)) return true;
    return (flags & kAvailFlagNoInterrupt) == 0;
  }
  uint16_t used_event = 0;
  if (!mem.read_obj(config.avail_addr + kAvailRingOffset + 2ull * config.size, used_event))
    return true;
  // vring_need_event(): did new_used step past used_event since old_used?
  return static_cast<uint16_t>(new_used - used_event - 1) <
         static_cast<uint16_t>(new_used - old_used);
}

void Queue::enable_notification(const GuestMemory& mem) {
  if (!event_idx_ || broken_ || !config.ready || config.size == 0) return;
  (void)mem.write_obj(config.used_addr + kUsedRingOffset + kUsedElemSize * config.size,
                      next_avail_);  // out of range only if validate() was skipped
  // avail_event must be visible before the caller re-reads avail.idx.
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

void Queue::undo_pop() noexcept { --next_avail_; }

void Queue::reset() noexcept {
  const uint16_t max = config.max_size;
  config = QueueConfig{};
  config.max_size = max;
  next_avail_ = 0;
  next_used_ = 0;
  signalled_used_ = 0;
  event_idx_ = false;
  broken_ = false;
  broken_reason_.clear();
}

size_t ChainReader::read(void* dst, size_t len) {
  auto* out = static_cast<uint8_t*>(dst);
  size_t done = 0;
  while (done < len && index_ < bufs_.size()) {
    const Buffer& b = bufs_[index_];
    const size_t n = std::min<size_t>(len - done, b.len - offset_);
    if (!mem_.read(b.gpa + offset_, out + done, n)) break;  // cannot happen: checked at pop()
    done += n;
    offset_ += static_cast<uint32_t>(n);
    if (offset_ == b.len) {
      ++index_;
      offset_ = 0;
    }
  }
  return done;
}

size_t ChainReader::skip(size_t len) {
  size_t done = 0;
  while (done < len && index_ < bufs_.size()) {
    const Buffer& b = bufs_[index_];
    const size_t n = std::min<size_t>(len - done, b.len - offset_);
    done += n;
    offset_ += static_cast<uint32_t>(n);
    if (offset_ == b.len) {
      ++index_;
      offset_ = 0;
    }
  }
  return done;
}

uint64_t ChainReader::remaining() const noexcept {
  uint64_t n = 0;
  for (size_t i = index_; i < bufs_.size(); ++i) n += bufs_[i].len;
  return n - offset_;
}

size_t ChainWriter::write(const void* src, size_t len) {
  const auto* in = static_cast<const uint8_t*>(src);
  size_t done = 0;
  while (done < len && index_ < bufs_.size()) {
    const Buffer& b = bufs_[index_];
    const size_t n = std::min<size_t>(len - done, b.len - offset_);
    if (!mem_.write(b.gpa + offset_, in + done, n)) break;  // cannot happen: checked at pop()
    done += n;
    offset_ += static_cast<uint32_t>(n);
    if (offset_ == b.len) {
      ++index_;
      offset_ = 0;
    }
  }
  written_ += done;
  return done;
}

uint64_t ChainWriter::remaining() const noexcept {
  uint64_t n = 0;
  for (size_t i = index_; i < bufs_.size(); ++i) n += bufs_[i].len;
  return n - offset_;
}

}  // namespace nexus::vmm::virtio
