// SPDX-License-Identifier: Apache-2.0
// Where the initrd goes: page-aligned, as high as possible in low RAM (below the 3 GiB MMIO gap,
// so its address fits the 32-bit ramdisk_image), and above the kernel.
//
// Linux's 64-bit entry builds its own page tables before it touches the initrd, so it need not
// lie inside the boot identity map (the first 1 GiB); Firecracker places it the same way.
#pragma once

#include <cstdint>
#include <span>

#include "common/result.hpp"
#include "vmm/guest_memory.hpp"

namespace nexus::vmm::boot {

/// The guest physical address for an initrd of `size` bytes, above `kernel_end` (and 1 MiB).
/// Error "initrd of N bytes does not fit in guest memory" when there is no room.
Result<uint64_t> initrd_address(const GuestMemory& mem, uint64_t size, uint64_t kernel_end);

/// initrd_address() and copy `initrd` there; returns the address.
Result<uint64_t> place_initrd(const GuestMemory& mem, std::span<const uint8_t> initrd,
                              uint64_t kernel_end);

}  // namespace nexus::vmm::boot
