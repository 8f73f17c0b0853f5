// SPDX-License-Identifier: Apache-2.0
// virtio-rng (device ID 4): one request queue of device-writable buffers, filled with bytes
// from the host's getrandom(). No config space, no device features.
#pragma once

#include <cstdint>
#include <memory>

#include "vmm/virtio/device.hpp"

namespace nexus::vmm::virtio {

inline constexpr uint16_t kRngQueueSize = 256;

class RngDevice : public Device {
 public:
  RngDevice() = default;

  uint32_t device_id() const override { return kDeviceIdRng; }
  uint64_t features() const override { return 0; }
  size_t queue_count() const override { return 1; }
  uint16_t queue_max_size(size_t /*index*/) const override { return kRngQueueSize; }
  void read_config(uint64_t offset, void* data, size_t len) const override;
  Result<void> activate(const ActivateContext& ctx) override;
  void queue_notify(size_t index) override;
  void reset() override;
  const char* name() const override { return "rng"; }

 private:
  /// Fill the chain's writable buffers; returns the bytes written.
  uint32_t fill(const Chain& chain);

  const GuestMemory* mem_ = nullptr;
  Queue* queue_ = nullptr;
  Interrupt* interrupt_ = nullptr;
};

}  // namespace nexus::vmm::virtio
