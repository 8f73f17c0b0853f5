// SPDX-License-Identifier: Apache-2.0
// virtio_mmio.device= arguments.
#include "vmm/boot/cmdline.hpp"

#include <fmt/format.h>

#include "vmm/boot/layout.hpp"

namespace nexus::vmm::boot {

Result<std::string> virtio_mmio_cmdline_arg(uint64_t base, uint64_t size, unsigned irq) {
  if (size == 0) return fail(Errc::invalid_argument, "virtio-mmio device size is 0");
  if (base + size < base)
    return fail(Errc::invalid_argument,
                fmt::format("virtio-mmio device at {:#x} + {:#x} overflows", base, size));
  if (irq == 0 || irq >= kIoapicPins)
    return fail(Errc::invalid_argument,
                fmt::format("virtio-mmio IRQ {} is not an IOAPIC pin (1..{})", irq,
                            kIoapicPins - 1));
  std::string sz;
  if (size % kGiB == 0)
    sz = fmt::format("{}G", size / kGiB);
  else if (size % kMiB == 0)
    sz = fmt::format("{}M", size / kMiB);
  else if (size % kKiB == 0)
    sz = fmt::format("{}K", size / kKiB);
  else
    sz = fmt::format("{}", size);
  return fmt::format("virtio_mmio.device={}@{:#x}:{}", sz, base, irq);
}

}  // namespace nexus::vmm::boot
