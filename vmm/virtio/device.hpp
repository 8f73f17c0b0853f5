// SPDX-License-Identifier: Apache-2.0
// The interface between a virtio device model and its transport (virtio-mmio here).
//
// Threading: the transport calls every method, and the event loop calls every callback a
// device registers, with the VMM's single device lock held (see vmm/event_loop.hpp), so a
// device needs no locking of its own. read_config/write_config run on a vCPU thread,
// everything else on the event thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/result.hpp"
#include "vmm/guest_memory.hpp"
#include "vmm/virtio/queue.hpp"

namespace nexus::vmm {
class EventLoop;
}

namespace nexus::vmm::virtio {

inline constexpr uint64_t kFeatureRingIndirectDesc = 1ull << 28;
inline constexpr uint64_t kFeatureRingEventIdx = 1ull << 29;
inline constexpr uint64_t kFeatureVersion1 = 1ull << 32;
inline constexpr uint64_t kFeatureInOrder = 1ull << 35;

inline constexpr uint32_t kDeviceIdBlock = 2;
inline constexpr uint32_t kDeviceIdRng = 4;
inline constexpr uint32_t kDeviceIdVsock = 19;

/// How a device tells the driver about work; implemented by the transport.
class Interrupt {
 public:
  virtual ~Interrupt() = default;
  /// InterruptStatus |= USED_BUFFER and inject the device's interrupt.
  virtual void signal_used() = 0;
  /// InterruptStatus |= CONFIG_CHANGE and inject.
  virtual void signal_config() = 0;
};

/// Handed to a device when the driver sets DRIVER_OK. Pointers stay valid until reset().
struct ActivateContext {
  const GuestMemory* memory = nullptr;
  std::vector<Queue>* queues = nullptr;  ///< queue_count() entries, validated
  uint64_t acked_features = 0;
  Interrupt* interrupt = nullptr;
  EventLoop* loop = nullptr;  ///< for devices with host-side fds (vsock)
};

class Device {
 public:
  virtual ~Device() = default;
  virtual uint32_t device_id() const = 0;
  /// Features offered (the transport always adds VERSION_1).
  virtual uint64_t features() const = 0;
  virtual size_t queue_count() const = 0;
  virtual uint16_t queue_max_size(size_t /*index*/) const { return 256; }
  /// Device config space; bytes past its end read as zero.
  virtual void read_config(uint64_t offset, void* data, size_t len) const = 0;
  /// Writes to read-only config are ignored.
  virtual void write_config(uint64_t /*offset*/, const void* /*data*/, size_t /*len*/) {}
  /// The driver set DRIVER_OK. An error marks the device as needing reset; it is logged.
  virtual Result<void> activate(const ActivateContext& ctx) = 0;
  /// The driver kicked queue `index` (or the transport re-kicks after activation).
  virtual void queue_notify(size_t index) = 0;
  /// The driver wrote 0 to Status: drop all activation state (backend connections too).
  virtual void reset() = 0;
  /// A short name for logs ("block", "vsock", "rng").
  virtual const char* name() const = 0;
};

}  // namespace nexus::vmm::virtio
