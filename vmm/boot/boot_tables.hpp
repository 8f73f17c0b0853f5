// SPDX-License-Identifier: Apache-2.0
// The boot GDT (0x500), IDT (0x520) and identity-mapping page tables (0x9000..0xBFFF) that the
// 64-bit Linux entry runs on until it installs its own.
//
// GDT: NULL, CODE 0xA09B (64-bit), DATA 0xC093, TSS 0x808B; base 0, limit 0xFFFFF, G=1.
// Selectors CS 0x08, DS/ES/FS/GS/SS 0x10, TR 0x18 (Firecracker's; 64-bit mode ignores the
// documented 0x10/0x18 __BOOT_CS/__BOOT_DS numbers). Page tables: PML4[0] -> PDPT[0] -> PD
// with 512 2 MiB pages = identity map of [0, 1 GiB).
#pragma once

#include <linux/kvm.h>

#include <array>
#include <cstdint>

#include "common/result.hpp"
#include "vmm/guest_memory.hpp"

namespace nexus::vmm::boot {

inline constexpr uint16_t kCodeSelector = 0x08;
inline constexpr uint16_t kDataSelector = 0x10;
inline constexpr uint16_t kTssSelector = 0x18;
inline constexpr uint16_t kGdtLimit = 4 * 8 - 1;
inline constexpr uint16_t kIdtLimit = 8 - 1;

/// A segment descriptor from its flags word (access byte in bits 7:0, G/DB/L/AVL in 15:12),
/// base and 20-bit limit.
constexpr uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit) {
  return ((uint64_t{base} & 0xFF000000u) << (56 - 24)) | ((uint64_t{flags} & 0xF0FFu) << 40) |
         ((uint64_t{limit} & 0x000F0000u) << (48 - 16)) | ((uint64_t{base} & 0x00FFFFFFu) << 16) |
         (uint64_t{limit} & 0x0000FFFFu);
}

/// The four boot GDT entries.
constexpr std::array<uint64_t, 4> boot_gdt() {
  return {0, gdt_entry(0xA09B, 0, 0xFFFFF), gdt_entry(0xC093, 0, 0xFFFFF),
          gdt_entry(0x808B, 0, 0xFFFFF)};
}

/// The kvm_segment KVM wants for GDT entry `index` (limit expanded to bytes when G=1).
kvm_segment segment_from_gdt(uint64_t entry, uint16_t index);

/// Write the GDT, the IDT and the page tables.
Result<void> write_boot_tables(const GuestMemory& mem);

}  // namespace nexus::vmm::boot
