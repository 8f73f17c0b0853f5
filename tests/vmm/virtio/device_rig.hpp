// SPDX-License-Identifier: Apache-2.0
// DeviceRig: a virtio device activated over real guest memory and rings driven by FakeDriver,
// with an Interrupt that counts signals (what a transport would provide).
#pragma once

#include <catch.hpp>

#include <vector>

#include "tests/vmm/virtio/fake_driver.hpp"
#include "vmm/virtio/device.hpp"

namespace nexus::vmm::virtio::testing {

class CountingInterrupt : public Interrupt {
 public:
  void signal_used() override { ++used; }
  void signal_config() override { ++config; }
  int used = 0;
  int config = 0;
};

struct DeviceRig {
  explicit DeviceRig(Device& dev, bool event_idx = false, uint16_t size = 256)
      : mem(allocate()), drv(mem, size), device(dev) {
    queues.emplace_back(dev.queue_max_size(0));
    drv.configure(queues[0]);
    REQUIRE(queues[0].validate(mem).has_value());
    queues[0].set_event_idx(event_idx);
    ActivateContext ctx;
    ctx.memory = &mem;
    ctx.queues = &queues;
    ctx.acked_features = dev.features() | kFeatureVersion1;
    ctx.interrupt = &irq;
    REQUIRE(dev.activate(ctx).has_value());
  }
  ~DeviceRig() { device.reset(); }

  static GuestMemory allocate() {
    auto m = GuestMemory::allocate(16 << 20);
    REQUIRE(m.has_value());
    return std::move(*m);
  }

  /// Kick the queue; returns how many used entries the device added.
  uint16_t kick() {
    uint16_t before = drv.used_idx();
    device.queue_notify(0);
    return static_cast<uint16_t>(drv.used_idx() - before);
  }
  /// The used length of the chain completed last.
  uint32_t last_used_len() const { return drv.used_elem(static_cast<uint16_t>(drv.used_idx() - 1)).second; }

  GuestMemory mem;
  FakeDriver drv;
  std::vector<Queue> queues;
  CountingInterrupt irq;
  Device& device;
};

}  // namespace nexus::vmm::virtio::testing
