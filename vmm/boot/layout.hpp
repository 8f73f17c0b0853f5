// SPDX-License-Identifier: Apache-2.0
// The x86-64 guest physical layout of a microVM: where the boot structures live, the MMIO gap
// and its devices, and the legacy IRQ numbers (vmm-notes §1.6, after Firecracker's layout.rs).
//
// Everything below 1 MiB is written by the VMM before the first KVM_RUN; the kernel loads at
// its ELF p_paddr (at or above HIMEM), the initrd goes at the top of low RAM.
#pragma once

#include <cstdint>

namespace nexus::vmm::boot {

inline constexpr uint64_t kKiB = 1024;
inline constexpr uint64_t kMiB = 1024 * kKiB;
inline constexpr uint64_t kGiB = 1024 * kMiB;

// Boot structures in the first 1 MiB.
inline constexpr uint64_t kGdtAddr = 0x500;        ///< boot GDT (4 entries)
inline constexpr uint64_t kIdtAddr = 0x520;        ///< boot IDT (one zero entry)
inline constexpr uint64_t kZeroPageAddr = 0x7000;  ///< struct boot_params; %rsi at entry
inline constexpr uint64_t kBootStackAddr = 0x8FF0; ///< %rsp and %rbp at entry
inline constexpr uint64_t kPml4Addr = 0x9000;
inline constexpr uint64_t kPdptAddr = 0xA000;
inline constexpr uint64_t kPdAddr = 0xB000;
inline constexpr uint64_t kCmdlineAddr = 0x20000;  ///< kernel command line, NUL-terminated
inline constexpr uint64_t kCmdlineMaxSize = 2048;  ///< including the NUL (COMMAND_LINE_SIZE)
inline constexpr uint64_t kMpTableAddr = 0x9FC00;  ///< MP floating pointer + config table
/// [kSystemMemStart, kHimemStart) is reserved in the e820 map (MP table, BIOS area).
inline constexpr uint64_t kSystemMemStart = kMpTableAddr;
inline constexpr uint64_t kHimemStart = 0x100000;  ///< 1 MiB; nothing of the kernel below it

// The boot page tables identity-map this much (2 MiB pages).
inline constexpr uint64_t kIdentityMapSize = 1 * kGiB;

// The 32-bit MMIO gap [3 GiB, 4 GiB): no RAM there.
inline constexpr uint64_t kMmioGapStart = 0xC0000000;
inline constexpr uint64_t kMmioGapEnd = 0x100000000;
inline constexpr uint64_t kVirtioMmioBase = 0xC0001000;  ///< first virtio-mmio slot
inline constexpr uint64_t kVirtioMmioSlotSize = 0x1000;  ///< one 4 KiB page per device
inline constexpr uint64_t kIoapicAddr = 0xFEC00000;
inline constexpr uint64_t kLapicAddr = 0xFEE00000;
inline constexpr uint64_t kKvmTssAddr = 0xFFFBD000;       ///< KVM_SET_TSS_ADDR (3 pages)
inline constexpr uint64_t kKvmIdentityMapAddr = 0xFFFBC000;  ///< KVM's default identity page
inline constexpr uint64_t kHighMemStart = 4 * kGiB;       ///< RAM above the gap starts here

// Legacy IRQs (= IOAPIC pins = GSIs under KVM's default routing).
inline constexpr unsigned kI8042Irq = 1;
inline constexpr unsigned kSerialIrq = 4;
inline constexpr unsigned kVirtioIrqBase = 5;  ///< virtio devices get 5, 6, ... in attach order
inline constexpr unsigned kIoapicPins = 24;    ///< pins 0..23
/// Virtio-mmio slots that have a legacy IRQ of their own (IRQs 5..23).
inline constexpr unsigned kVirtioMmioMaxSlots = kIoapicPins - kVirtioIrqBase;

/// Guest physical base of virtio-mmio slot `index` (0-based, attach order).
constexpr uint64_t virtio_mmio_slot_base(unsigned index) {
  return kVirtioMmioBase + uint64_t{index} * kVirtioMmioSlotSize;
}
/// The IRQ of virtio-mmio slot `index`.
constexpr unsigned virtio_mmio_slot_irq(unsigned index) { return kVirtioIrqBase + index; }

}  // namespace nexus::vmm::boot
