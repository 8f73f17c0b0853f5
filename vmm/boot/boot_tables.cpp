// SPDX-License-Identifier: Apache-2.0
// Boot GDT, IDT and identity page tables.
#include "vmm/boot/boot_tables.hpp"

#include <vector>

#include "vmm/boot/layout.hpp"

namespace nexus::vmm::boot {
namespace {
constexpr uint64_t kPresent = 1, kWritable = 2, kPageSize = 0x80;  // PS: a 2 MiB page in a PD
constexpr size_t kEntriesPerTable = 512;
static_assert(kEntriesPerTable * (2 * kMiB) == kIdentityMapSize);
}  // namespace

kvm_segment segment_from_gdt(uint64_t entry, uint16_t index) {
  kvm_segment s{};
  s.base = ((entry >> 16) & 0x00FFFFFF) | ((entry >> 32) & 0xFF000000);
  uint32_t limit = static_cast<uint32_t>(((entry >> 32) & 0x000F0000) | (entry & 0x0000FFFF));
  s.g = static_cast<uint8_t>((entry >> 55) & 1);
  s.limit = s.g ? (limit << 12) | 0xFFF : limit;
  s.selector = static_cast<uint16_t>(index * 8);
  s.type = static_cast<uint8_t>((entry >> 40) & 0xF);
  s.s = static_cast<uint8_t>((entry >> 44) & 1);
  s.dpl = static_cast<uint8_t>((entry >> 45) & 3);
  s.present = static_cast<uint8_t>((entry >> 47) & 1);
  s.avl = static_cast<uint8_t>((entry >> 52) & 1);
  s.l = static_cast<uint8_t>((entry >> 53) & 1);
  s.db = static_cast<uint8_t>((entry >> 54) & 1);
  s.unusable = s.present ? 0 : 1;
  return s;
}

Result<void> write_boot_tables(const GuestMemory& mem) {
  auto gdt = boot_gdt();
  const uint64_t idt = 0;
  if (!mem.write(kGdtAddr, gdt.data(), sizeof gdt) || !mem.write_obj(kIdtAddr, idt))
    return fail(Errc::invalid_argument, "guest memory does not cover the boot GDT and IDT");

  std::vector<uint64_t> pml4(kEntriesPerTable), pdpt(kEntriesPerTable), pd(kEntriesPerTable);
  pml4[0] = kPdptAddr | kPresent | kWritable;
  pdpt[0] = kPdAddr | kPresent | kWritable;
  for (size_t i = 0; i < kEntriesPerTable; ++i)
    pd[i] = (uint64_t{i} << 21) | kPresent | kWritable | kPageSize;
  const size_t bytes = kEntriesPerTable * sizeof(uint64_t);
  if (!mem.write(kPml4Addr, pml4.data(), bytes) || !mem.write(kPdptAddr, pdpt.data(), bytes) ||
      !mem.write(kPdAddr, pd.data(), bytes))
    return fail(Errc::invalid_argument, "guest memory does not cover the boot page tables");
  return {};
}

}  // namespace nexus::vmm::boot
