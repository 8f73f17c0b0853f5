// SPDX-License-Identifier: Apache-2.0
// Tests for vmm/virtio/rng: writable buffers come back filled with random bytes.
#include <catch.hpp>

#include <string>

#include "tests/vmm/virtio/device_rig.hpp"
#include "vmm/virtio/rng.hpp"

using namespace nexus;
using namespace nexus::vmm;
using namespace nexus::vmm::virtio;
using namespace nexus::vmm::virtio::testing;

TEST_CASE("virtio-rng: identity and config", "[virtio][rng]") {
  RngDevice dev;
  CHECK(dev.device_id() == 4);
  CHECK(dev.queue_count() == 1);
  CHECK(dev.features() == 0);
  uint8_t cfg[4] = {1, 2, 3, 4};
  dev.read_config(0, cfg, sizeof cfg);
  for (uint8_t b : cfg) CHECK(b == 0);
}

TEST_CASE("virtio-rng: fills writable buffers", "[virtio][rng]") {
  RngDevice dev;
  DeviceRig rig(dev);
  std::vector<Seg> a{{64, true}, {1000, true}};
  std::vector<Seg> b{{16, false}, {32, true}};  // a readable buffer is ignored
  std::vector<Seg> c{{8, false}};               // nothing to fill
  rig.drv.push(a);
  rig.drv.push(b);
  rig.drv.push(c);
  CHECK(rig.kick() == 3);
  CHECK(rig.irq.used == 1);
  CHECK(rig.drv.used_elem(0).second == 1064);
  CHECK(rig.drv.used_elem(1).second == 32);
  CHECK(rig.drv.used_elem(2).second == 0);
  std::string big = rig.drv.read_bytes(a[1].gpa, 1000);
  CHECK(big != std::string(1000, '\0'));
  CHECK(rig.drv.read_bytes(a[0].gpa, 64) != rig.drv.read_bytes(a[1].gpa, 64));
  CHECK(rig.drv.read_bytes(b[0].gpa, 16) == std::string(16, '\0'));
}

TEST_CASE("virtio-rng: stops at a broken queue", "[virtio][rng]") {
  RngDevice dev;
  DeviceRig rig(dev);
  rig.drv.set_avail_idx(300);
  CHECK(rig.kick() == 0);
  CHECK(rig.queues[0].broken());
  CHECK(rig.irq.used == 0);
}
