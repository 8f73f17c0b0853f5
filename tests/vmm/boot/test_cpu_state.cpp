// SPDX-License-Identifier: Apache-2.0
// Tests for vmm/boot/boot_tables.hpp, cpu_state.hpp: GDT and page-table
// entries in guest memory, the kvm_* structs for the 64-bit entry.
#include <catch.hpp>

#include <cstring>
#include <vector>

#include "vmm/boot/boot_tables.hpp"
#include "vmm/boot/cpu_state.hpp"
#include "vmm/boot/layout.hpp"

using namespace nexus::vmm;
using namespace nexus::vmm::boot;

namespace {

GuestMemory guest() {
  auto mem = GuestMemory::allocate(16 * kMiB);
  REQUIRE(mem.has_value());
  return std::move(*mem);
}

uint64_t qword(const GuestMemory& mem, uint64_t gpa) {
  uint64_t v = 0;
  REQUIRE(mem.read_obj(gpa, v));
  return v;
}

uint32_t lapic_reg(const kvm_lapic_state& s, size_t off) {
  uint32_t v;
  std::memcpy(&v, s.regs + off, sizeof v);
  return v;
}

}  // namespace

TEST_CASE("boot GDT entries encode Firecracker's descriptors", "[vmm][boot][tables]") {
  CHECK(gdt_entry(0xA09B, 0, 0xFFFFF) == 0x00AF9B000000FFFFULL);
  CHECK(gdt_entry(0xC093, 0, 0xFFFFF) == 0x00CF93000000FFFFULL);
  CHECK(gdt_entry(0x808B, 0, 0xFFFFF) == 0x008F8B000000FFFFULL);
  CHECK(gdt_entry(0x0093, 0x12345678, 0xABCDE) == 0x120A93345678BCDEULL);

  auto mem = guest();
  std::vector<uint8_t> dirt(0x4000, 0xAB);
  REQUIRE(mem.write(kPml4Addr, dirt.data(), 0x3000));
  REQUIRE(write_boot_tables(mem).has_value());
  CHECK(qword(mem, kGdtAddr) == 0);
  CHECK(qword(mem, kGdtAddr + 8) == 0x00AF9B000000FFFFULL);
  CHECK(qword(mem, kGdtAddr + 16) == 0x00CF93000000FFFFULL);
  CHECK(qword(mem, kGdtAddr + 24) == 0x008F8B000000FFFFULL);
  CHECK(qword(mem, kIdtAddr) == 0);
}

TEST_CASE("boot page tables identity-map the first GiB with 2 MiB pages", "[vmm][boot][tables]") {
  auto mem = guest();
  std::vector<uint8_t> dirt(0x3000, 0xAB);
  REQUIRE(mem.write(kPml4Addr, dirt.data(), dirt.size()));
  REQUIRE(write_boot_tables(mem).has_value());
  CHECK(qword(mem, kPml4Addr) == 0xA003);
  CHECK(qword(mem, kPdptAddr) == 0xB003);
  for (uint64_t i = 1; i < 512; ++i) {  // the rest of PML4 and PDPT is not present
    CHECK(qword(mem, kPml4Addr + i * 8) == 0);
    CHECK(qword(mem, kPdptAddr + i * 8) == 0);
  }
  CHECK(qword(mem, kPdAddr) == 0x83);
  CHECK(qword(mem, kPdAddr + 8) == 0x200083);
  CHECK(qword(mem, kPdAddr + 511 * 8) == ((511ULL << 21) | 0x83));
}

TEST_CASE("boot registers, FPU and MSRs", "[vmm][boot][cpu]") {
  kvm_regs regs = boot_regs(0x1000000);
  CHECK(regs.rflags == 2);
  CHECK(regs.rip == 0x1000000);
  CHECK(regs.rsp == 0x8FF0);
  CHECK(regs.rbp == 0x8FF0);
  CHECK(regs.rsi == 0x7000);
  CHECK(regs.rax == 0);
  CHECK(regs.rdi == 0);

  kvm_fpu fpu = boot_fpu();
  CHECK(fpu.fcw == 0x37F);
  CHECK(fpu.mxcsr == 0x1F80);

  auto msrs = boot_msrs();
  auto value = [&](uint32_t index) -> int64_t {
    for (const auto& m : msrs)
      if (m.index == index) return static_cast<int64_t>(m.data);
    return -1;
  };
  CHECK(msrs.size() == 11);
  for (uint32_t zero : {0x174u, 0x175u, 0x176u, 0xC0000081u, 0xC0000082u, 0xC0000083u,
                        0xC0000084u, 0xC0000102u, 0x10u})
    CHECK(value(zero) == 0);
  CHECK(value(0x1A0) == 1);
  CHECK(value(0x2FF) == 0x806);
}

TEST_CASE("boot sregs: long mode, flat segments decoded from the GDT", "[vmm][boot][cpu]") {
  kvm_sregs s{};
  s.apic_base = 0xFEE00900;  // what KVM filled in stays
  s.cr4 = 0x40;              // bits KVM set stay; PAE is added
  boot_sregs(s);
  CHECK(s.apic_base == 0xFEE00900);
  CHECK(s.cs.selector == 0x08);
  CHECK(s.cs.base == 0);
  CHECK(s.cs.limit == 0xFFFFFFFF);
  CHECK(s.cs.type == 0xB);
  CHECK(s.cs.present == 1);
  CHECK(s.cs.dpl == 0);
  CHECK(s.cs.s == 1);
  CHECK(s.cs.l == 1);
  CHECK(s.cs.db == 0);
  CHECK(s.cs.g == 1);
  CHECK(s.cs.unusable == 0);
  for (const kvm_segment* d : {&s.ds, &s.es, &s.fs, &s.gs, &s.ss}) {
    CHECK(d->selector == 0x10);
    CHECK(d->type == 0x3);
    CHECK(d->db == 1);
    CHECK(d->l == 0);
    CHECK(d->limit == 0xFFFFFFFF);
  }
  CHECK(s.tr.selector == 0x18);
  CHECK(s.tr.type == 0xB);
  CHECK(s.tr.s == 0);
  CHECK(s.gdt.base == 0x500);
  CHECK(s.gdt.limit == 31);
  CHECK(s.idt.base == 0x520);
  CHECK(s.idt.limit == 7);
  CHECK(s.cr0 == 0x80000011);
  CHECK(s.cr3 == 0x9000);
  CHECK(s.cr4 == 0x60);
  CHECK(s.efer == 0x500);
}

TEST_CASE("LAPIC LINT0 is ExtINT and LINT1 NMI", "[vmm][boot][cpu]") {
  kvm_lapic_state lapic{};
  uint32_t masked = 0x10000 | 0x700;  // masked, some other delivery mode
  std::memcpy(lapic.regs + 0x350, &masked, 4);
  std::memcpy(lapic.regs + 0x360, &masked, 4);
  set_lapic_lint(lapic);
  CHECK(lapic_reg(lapic, 0x350) == 0x10700);
  CHECK(((lapic_reg(lapic, 0x350) >> 8) & 7) == 7);
  CHECK(((lapic_reg(lapic, 0x360) >> 8) & 7) == 4);
  CHECK((lapic_reg(lapic, 0x360) & 0x10000) == 0x10000);  // the mask bit is not ours to touch
  CHECK(lapic_reg(lapic, 0x340) == 0);
}
