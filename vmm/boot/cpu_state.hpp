// SPDX-License-Identifier: Apache-2.0
// The vCPU state at the 64-bit Linux entry, as the KVM structs the KVM core passes to
// KVM_SET_REGS / SET_SREGS / SET_FPU / SET_MSRS / SET_LAPIC (vmm-notes §1.3, §1.4).
//
// Only the boot vCPU's registers matter: with the in-kernel LAPIC the others wait for SIPI.
// boot_msrs() and set_lapic_lint() apply to every vCPU. KVM_SET_CPUID2 must come before the MSRs.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

namespace nexus::vmm::boot {

namespace msr {
inline constexpr uint32_t kIa32Tsc = 0x10;
inline constexpr uint32_t kIa32SysenterCs = 0x174;
inline constexpr uint32_t kIa32SysenterEsp = 0x175;
inline constexpr uint32_t kIa32SysenterEip = 0x176;
inline constexpr uint32_t kIa32MiscEnable = 0x1A0;
inline constexpr uint32_t kMtrrDefType = 0x2FF;
inline constexpr uint32_t kStar = 0xC0000081;
inline constexpr uint32_t kLstar = 0xC0000082;
inline constexpr uint32_t kCstar = 0xC0000083;
inline constexpr uint32_t kSyscallMask = 0xC0000084;
inline constexpr uint32_t kKernelGsBase = 0xC0000102;

inline constexpr uint64_t kMiscEnableFastStrings = 1;
inline constexpr uint64_t kMtrrEnableWriteBack = 0x806;  ///< E (bit 11) | default type 6 (WB)
}  // namespace msr

inline constexpr uint64_t kCr0Boot = 0x80000011;  ///< PE | ET | PG
inline constexpr uint64_t kCr4Pae = 0x20;
inline constexpr uint64_t kEferLme = 0x100;
inline constexpr uint64_t kEferLma = 0x400;

/// RFLAGS 2 (reserved bit), RIP entry, RSP = RBP = 0x8FF0, RSI = 0x7000 (the zero page).
kvm_regs boot_regs(uint64_t entry);

/// Adjust the sregs KVM_GET_SREGS returned: segments from the boot GDT, GDT/IDT registers,
/// CR0 = PE|ET|PG, CR3 = PML4, CR4 |= PAE, EFER |= LME|LMA (long mode, paging on).
void boot_sregs(kvm_sregs& sregs);

/// FCW 0x37F, MXCSR 0x1F80 (the reset values of FNINIT and of SSE).
kvm_fpu boot_fpu();

/// SYSENTER_*, STAR/LSTAR/CSTAR/SFMASK/KERNEL_GS_BASE = 0, TSC = 0 (all vCPUs in step),
/// MISC_ENABLE = fast strings, MTRRdefType = MTRRs on, default write-back.
std::vector<kvm_msr_entry> boot_msrs();

/// LVT0 (0x350) delivery mode ExtINT, LVT1 (0x360) NMI: the 8259 "virtual wire" and NMIs.
/// Modifies the state KVM_GET_LAPIC returned; every vCPU.
void set_lapic_lint(kvm_lapic_state& lapic);

}  // namespace nexus::vmm::boot
