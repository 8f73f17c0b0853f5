// SPDX-License-Identifier: Apache-2.0
// Kernel command line pieces the VMM adds: virtio-mmio device declarations.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.hpp"

namespace nexus::vmm::boot {

/// "virtio_mmio.device=<size>@0x<base>:<irq>", the size in the largest exact K/M/G unit
/// (e.g. "virtio_mmio.device=4K@0xc0001000:5"). The guest needs
/// CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES=y. irq must be an IOAPIC pin (1..23), size non-zero.
Result<std::string> virtio_mmio_cmdline_arg(uint64_t base, uint64_t size, unsigned irq);

}  // namespace nexus::vmm::boot
