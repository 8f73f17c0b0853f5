// SPDX-License-Identifier: Apache-2.0
// Split virtqueue (virtio 1.x, section 2.7), device side.
//
// The driver (the guest) is hostile: every ring index, descriptor index, address and length
// is checked against the queue size and guest memory; descriptor chains are bounded (loops
// end in an error, not a hang); an avail index that runs more than `size` ahead of us marks
// the queue broken. A broken queue reports an error once and then yields nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "vmm/guest_memory.hpp"

namespace nexus::vmm::virtio {

inline constexpr uint16_t kDescFlagNext = 1;
inline constexpr uint16_t kDescFlagWrite = 2;
inline constexpr uint16_t kDescFlagIndirect = 4;
inline constexpr uint16_t kAvailFlagNoInterrupt = 1;
inline constexpr uint16_t kUsedFlagNoNotify = 1;
inline constexpr uint16_t kMaxQueueSize = 32768;

/// One guest buffer of a descriptor chain, already bounds-checked against guest memory.
struct Buffer {
  uint64_t gpa = 0;
  uint32_t len = 0;
};

/// A popped descriptor chain: device-readable buffers first, then device-writable ones
/// (a readable descriptor after a writable one is a driver error).
struct Chain {
  uint16_t head = 0;
  std::vector<Buffer> readable;
  std::vector<Buffer> writable;
  uint64_t readable_bytes() const noexcept;
  uint64_t writable_bytes() const noexcept;
};

/// What the transport programs into a queue (virtio-mmio registers).
struct QueueConfig {
  uint16_t max_size = 256;  ///< QueueNumMax offered by the device
  uint16_t size = 0;        ///< QueueNum chosen by the driver
  bool ready = false;
  uint64_t desc_addr = 0;
  uint64_t avail_addr = 0;
  uint64_t used_addr = 0;
};

class Queue {
 public:
  Queue() = default;
  explicit Queue(uint16_t max_size) { config.max_size = max_size; }

  QueueConfig config;

  /// Check the configuration before activation: size a power of two in [1, max_size], rings
  /// aligned (desc 16, avail 2, used 4) and wholly inside guest memory.
  Result<void> validate(const GuestMemory& mem) const;
  /// Feature negotiation results that change ring behaviour.
  void set_event_idx(bool on) noexcept { event_idx_ = on; }

  /// The next available chain, nullopt if none, or an error if the driver broke the queue
  /// (then the queue stays broken). Indirect descriptors are followed (one level, bounded).
  Result<std::optional<Chain>> pop(const GuestMemory& mem);
  /// Give a chain back: used ring entry {head, len}, then publish the used index.
  Result<void> add_used(const GuestMemory& mem, uint16_t head, uint32_t len);
  /// Whether to interrupt the driver for the entries added since the last call (honours
  /// VRING_AVAIL_F_NO_INTERRUPT or, with EVENT_IDX, used_event). Resets the pending count.
  bool needs_interrupt(const GuestMemory& mem);
  /// With EVENT_IDX: ask for a kick at the next avail entry (avail_event = next_avail); then
  /// the caller must pop() once more to close the race. No-op without EVENT_IDX.
  void enable_notification(const GuestMemory& mem);
  /// Unwind the last pop() (for a device that cannot take the chain yet, e.g. vsock RX with
  /// nothing to deliver). Only valid right after a successful pop().
  void undo_pop() noexcept;

  bool broken() const noexcept { return broken_; }
  const std::string& broken_reason() const noexcept { return broken_reason_; }
  uint16_t next_avail() const noexcept { return next_avail_; }
  uint16_t next_used() const noexcept { return next_used_; }
  /// Back to the reset state (keeps max_size).
  void reset() noexcept;

 private:
  Result<void> walk(const GuestMemory& mem, uint16_t head, Chain& out) const;
  tl::unexpected<Error> breaks(std::string why);

  uint16_t next_avail_ = 0;
  uint16_t next_used_ = 0;
  uint16_t signalled_used_ = 0;
  bool event_idx_ = false;
  bool broken_ = false;
  std::string broken_reason_;
};

/// Sequential copy out of a chain's readable buffers (gathers across buffers).
class ChainReader {
 public:
  ChainReader(const GuestMemory& mem, const std::vector<Buffer>& bufs) : mem_(mem), bufs_(bufs) {}
  /// Copy up to len bytes; returns bytes copied (less at the end of the chain).
  size_t read(void* dst, size_t len);
  /// Skip bytes; returns bytes skipped.
  size_t skip(size_t len);
  uint64_t remaining() const noexcept;

 private:
  const GuestMemory& mem_;
  const std::vector<Buffer>& bufs_;
  size_t index_ = 0;
  uint32_t offset_ = 0;
};

/// Sequential copy into a chain's writable buffers (scatters across buffers).
class ChainWriter {
 public:
  ChainWriter(const GuestMemory& mem, const std::vector<Buffer>& bufs) : mem_(mem), bufs_(bufs) {}
  size_t write(const void* src, size_t len);
  uint64_t remaining() const noexcept;
  /// Total bytes written so far (the used length to report).
  uint64_t written() const noexcept { return written_; }

 private:
  const GuestMemory& mem_;
  const std::vector<Buffer>& bufs_;
  size_t index_ = 0;
  uint32_t offset_ = 0;
  uint64_t written_ = 0;
};

}  // namespace nexus::vmm::virtio
