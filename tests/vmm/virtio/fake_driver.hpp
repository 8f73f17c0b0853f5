// SPDX-License-Identifier: Apache-2.0
// FakeDriver: the guest side of a split virtqueue for tests and fuzzers. It lays out the
// descriptor table, avail and used rings in a GuestMemory and writes descriptors and avail
// entries exactly as a virtio driver would (fences included), and reads the used ring back.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "vmm/guest_memory.hpp"
#include "vmm/virtio/queue.hpp"

namespace nexus::vmm::virtio::testing {

/// One segment of a chain the driver builds: len bytes, device-writable or not. With gpa == 0
/// the driver allocates the buffer from its data area.
struct Seg {
  uint32_t len = 0;
  bool writable = false;
  uint64_t gpa = 0;
};

class FakeDriver {
 public:
  /// Rings at `base` (descriptor table, then avail, then used); buffers from `data`.
  FakeDriver(const GuestMemory& mem, uint16_t size, uint64_t base = 0x10000,
             uint64_t data = 0x100000)
      : mem_(mem), size_(size), data_next_(data) {
    desc_ = base;
    avail_ = desc_ + 16ull * size;
    used_ = (avail_ + 6 + 2ull * size + 3) & ~3ull;
    std::vector<uint8_t> zero(used_ + 6 + 8ull * size - base, 0);
    mem_.write(base, zero.data(), zero.size());
  }

  uint16_t size() const { return size_; }
  uint64_t desc_addr() const { return desc_; }
  uint64_t avail_addr() const { return avail_; }
  uint64_t used_addr() const { return used_; }

  /// Program a device-side queue with this driver's rings (as the transport would).
  void configure(Queue& q) const {
    q.config.size = size_;
    q.config.desc_addr = desc_;
    q.config.avail_addr = avail_;
    q.config.used_addr = used_;
    q.config.ready = true;
  }

  /// A buffer in the data area (16-byte aligned), zero filled.
  uint64_t alloc(uint64_t len) {
    uint64_t gpa = data_next_;
    data_next_ = (data_next_ + len + 15) & ~15ull;
    std::vector<uint8_t> zero(len, 0);
    mem_.write(gpa, zero.data(), zero.size());
    return gpa;
  }

  /// Hand out buffers from `data` again (the chains using the old ones are done).
  void rewind_data(uint64_t data) { data_next_ = data; }
  uint64_t data_next() const { return data_next_; }

  void set_desc(uint16_t index, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
    write_desc(desc_ + 16ull * index, addr, len, flags, next);
  }
  static void write_desc_at(const GuestMemory& mem, uint64_t at, uint64_t addr, uint32_t len,
                            uint16_t flags, uint16_t next) {
    uint8_t raw[16];
    std::memcpy(raw, &addr, 8);
    std::memcpy(raw + 8, &len, 4);
    std::memcpy(raw + 12, &flags, 2);
    std::memcpy(raw + 14, &next, 2);
    mem.write(at, raw, sizeof raw);
  }

  /// Write a chain into free descriptors (taken round-robin) without publishing it; returns
  /// the head. Buffers are allocated for segments without a gpa.
  uint16_t add_chain(std::vector<Seg>& segs) {
    uint16_t head = next_desc_;
    for (size_t i = 0; i < segs.size(); ++i) {
      if (segs[i].gpa == 0) segs[i].gpa = alloc(segs[i].len);
      uint16_t index = next_desc_;
      next_desc_ = static_cast<uint16_t>((next_desc_ + 1) % size_);
      bool last = i + 1 == segs.size();
      uint16_t flags = static_cast<uint16_t>((segs[i].writable ? kDescFlagWrite : 0) |
                                             (last ? 0 : kDescFlagNext));
      set_desc(index, segs[i].gpa, segs[i].len, flags, last ? 0 : next_desc_);
    }
    return head;
  }

  /// Put a chain into an indirect table; one descriptor of the ring points at it.
  uint16_t add_indirect(std::vector<Seg>& segs) {
    uint64_t table = alloc(16ull * segs.size());
    for (size_t i = 0; i < segs.size(); ++i) {
      if (segs[i].gpa == 0) segs[i].gpa = alloc(segs[i].len);
      bool last = i + 1 == segs.size();
      uint16_t flags = static_cast<uint16_t>((segs[i].writable ? kDescFlagWrite : 0) |
                                             (last ? 0 : kDescFlagNext));
      write_desc_at(mem_, table + 16 * i, segs[i].gpa, segs[i].len, flags,
                    static_cast<uint16_t>(last ? 0 : i + 1));
    }
    uint16_t head = next_desc_;
    next_desc_ = static_cast<uint16_t>((next_desc_ + 1) % size_);
    set_desc(head, table, static_cast<uint32_t>(16 * segs.size()), kDescFlagIndirect, 0);
    return head;
  }

  /// Make `head` available: ring entry, release fence, then the index.
  void publish(uint16_t head) {
    write16(avail_ + 4 + 2ull * (avail_idx_ % size_), head);
    std::atomic_thread_fence(std::memory_order_release);
    ++avail_idx_;
    write16(avail_ + 2, avail_idx_);
  }
  uint16_t push(std::vector<Seg>& segs) {
    uint16_t head = add_chain(segs);
    publish(head);
    return head;
  }
  uint16_t push(std::vector<Seg>&& segs) { return push(segs); }

  /// Raw writes a hostile driver can make.
  void set_avail_idx(uint16_t idx) {
    avail_idx_ = idx;
    write16(avail_ + 2, idx);
  }
  void set_avail_entry(uint16_t slot, uint16_t head) { write16(avail_ + 4 + 2ull * slot, head); }
  void set_avail_flags(uint16_t flags) { write16(avail_, flags); }
  void set_used_event(uint16_t v) { write16(avail_ + 4 + 2ull * size_, v); }
  uint16_t avail_event() const { return read16(used_ + 4 + 8ull * size_); }

  uint16_t used_idx() const { return read16(used_ + 2); }
  /// The used element in ring slot `slot` (mod size): {id, len}.
  std::pair<uint32_t, uint32_t> used_elem(uint16_t slot) const {
    uint32_t v[2] = {0, 0};
    mem_.read(used_ + 4 + 8ull * (slot % size_), v, sizeof v);
    return {v[0], v[1]};
  }

  void write_bytes(uint64_t gpa, const std::string& s) const { mem_.write(gpa, s.data(), s.size()); }
  std::string read_bytes(uint64_t gpa, size_t len) const {
    std::string s(len, '\0');
    mem_.read(gpa, s.data(), len);
    return s;
  }

 private:
  void write_desc(uint64_t at, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
    write_desc_at(mem_, at, addr, len, flags, next);
  }
  void write16(uint64_t gpa, uint16_t v) const { mem_.write_obj(gpa, v); }
  uint16_t read16(uint64_t gpa) const {
    uint16_t v = 0;
    mem_.read_obj(gpa, v);
    return v;
  }

  const GuestMemory& mem_;
  uint16_t size_;
  uint64_t desc_ = 0, avail_ = 0, used_ = 0;
  uint64_t data_next_;
  uint16_t avail_idx_ = 0;
  uint16_t next_desc_ = 0;
};

}  // namespace nexus::vmm::virtio::testing
