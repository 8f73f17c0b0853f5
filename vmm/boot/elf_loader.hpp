// SPDX-License-Identifier: Apache-2.0
// Loading an uncompressed x86-64 Linux kernel (vmlinux ELF) into guest memory.
//
// The file is untrusted input: every header field is checked (overflow-safe) before use, and
// each error names the field or segment that was wrong. PT_LOAD segments are copied to their
// p_paddr (at or above 1 MiB), their BSS tails zeroed. The entry point is the physical address
// of startup_64 for the 64-bit Linux boot protocol; PVH notes are ignored on purpose (the
// 64-bit entry skips the 32-bit setup, which matters on hosts that emulate CPL0).
#pragma once

#include <cstdint>
#include <span>

#include "common/result.hpp"
#include "vmm/guest_memory.hpp"

namespace nexus::vmm::boot {

struct KernelImage {
  uint64_t entry = 0;       ///< guest physical entry point (64-bit boot protocol)
  uint64_t kernel_end = 0;  ///< one past the highest guest physical byte loaded (incl. BSS)
};

/// Load a vmlinux held in memory.
Result<KernelImage> load_elf_kernel(const GuestMemory& mem, std::span<const uint8_t> file);

/// Load a vmlinux from an open file (read with pread, straight into guest memory).
Result<KernelImage> load_elf_kernel_fd(const GuestMemory& mem, int fd);

}  // namespace nexus::vmm::boot
