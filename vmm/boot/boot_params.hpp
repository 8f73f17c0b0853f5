// SPDX-License-Identifier: Apache-2.0
// The Linux zero page (struct boot_params at 0x7000), the e820 memory map it carries, and the
// kernel command line at 0x20000 — the 64-bit boot protocol's inputs for a vmlinux (no setup
// header from an image: the loader fields are all there is).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "vmm/guest_memory.hpp"

namespace nexus::vmm::boot {

inline constexpr uint32_t kE820Ram = 1;
inline constexpr uint32_t kE820Reserved = 2;

struct E820Entry {
  uint64_t addr = 0;
  uint64_t size = 0;
  uint32_t type = 0;
  bool operator==(const E820Entry&) const = default;
};

/// The e820 map of `mem`: its regions as RAM, except [0x9FC00, 1 MiB) which is reserved (MP
/// table, BIOS area); sorted by address.
std::vector<E820Entry> e820_map(const GuestMemory& mem);

struct BootParams {
  std::string cmdline;       ///< at most 2047 bytes, no NUL
  uint64_t initrd_gpa = 0;   ///< 0 with initrd_size 0: no initrd
  uint64_t initrd_size = 0;
};

/// Write the zero page at 0x7000 (all other fields zero) and the command line at 0x20000.
Result<void> write_boot_params(const GuestMemory& mem, const BootParams& params);

}  // namespace nexus::vmm::boot
