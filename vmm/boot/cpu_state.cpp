// SPDX-License-Identifier: Apache-2.0
// Registers, segment state, FPU, MSRs and LAPIC LINT pins for the 64-bit Linux entry.
#include "vmm/boot/cpu_state.hpp"

#include <cstring>

#include "vmm/boot/boot_tables.hpp"
#include "vmm/boot/layout.hpp"

namespace nexus::vmm::boot {
namespace {

constexpr uint64_t kRflagsReserved = 0x2;
constexpr uint16_t kFcwDefault = 0x37F;
constexpr uint32_t kMxcsrDefault = 0x1F80;
constexpr size_t kApicLvt0 = 0x350;
constexpr size_t kApicLvt1 = 0x360;
constexpr uint32_t kApicModeNmi = 4;
constexpr uint32_t kApicModeExtInt = 7;

void set_delivery_mode(kvm_lapic_state& lapic, size_t reg, uint32_t mode) {
  uint32_t v;
  std::memcpy(&v, lapic.regs + reg, sizeof v);
  v = (v & ~0x700u) | (mode << 8);
  std::memcpy(lapic.regs + reg, &v, sizeof v);
}

}  // namespace

kvm_regs boot_regs(uint64_t entry) {
  kvm_regs regs{};
  regs.rflags = kRflagsReserved;
  regs.rip = entry;
  regs.rsp = kBootStackAddr;
  regs.rbp = kBootStackAddr;
  regs.rsi = kZeroPageAddr;
  return regs;
}

void boot_sregs(kvm_sregs& sregs) {
  constexpr auto gdt = boot_gdt();
  const kvm_segment code = segment_from_gdt(gdt[1], 1);
  const kvm_segment data = segment_from_gdt(gdt[2], 2);
  const kvm_segment tss = segment_from_gdt(gdt[3], 3);
  sregs.cs = code;
  sregs.ds = data;
  sregs.es = data;
  sregs.fs = data;
  sregs.gs = data;
  sregs.ss = data;
  sregs.tr = tss;
  sregs.gdt.base = kGdtAddr;
  sregs.gdt.limit = kGdtLimit;
  sregs.idt.base = kIdtAddr;
  sregs.idt.limit = kIdtLimit;
  sregs.cr0 = kCr0Boot;
  sregs.cr3 = kPml4Addr;
  sregs.cr4 |= kCr4Pae;
  sregs.efer |= kEferLme | kEferLma;
}

kvm_fpu boot_fpu() {
  kvm_fpu fpu{};
  fpu.fcw = kFcwDefault;
  fpu.mxcsr = kMxcsrDefault;
  return fpu;
}

std::vector<kvm_msr_entry> boot_msrs() {
  auto e = [](uint32_t index, uint64_t data) {
    kvm_msr_entry m{};
    m.index = index;
    m.data = data;
    return m;
  };
  return {
      e(msr::kIa32SysenterCs, 0),
      e(msr::kIa32SysenterEsp, 0),
      e(msr::kIa32SysenterEip, 0),
      e(msr::kStar, 0),
      e(msr::kCstar, 0),
      e(msr::kKernelGsBase, 0),
      e(msr::kSyscallMask, 0),
      e(msr::kLstar, 0),
      e(msr::kIa32Tsc, 0),
      e(msr::kIa32MiscEnable, msr::kMiscEnableFastStrings),
      e(msr::kMtrrDefType, msr::kMtrrEnableWriteBack),
  };
}

void set_lapic_lint(kvm_lapic_state& lapic) {
  set_delivery_mode(lapic, kApicLvt0, kApicModeExtInt);
  set_delivery_mode(lapic, kApicLvt1, kApicModeNmi);
}

}  // namespace nexus::vmm::boot
