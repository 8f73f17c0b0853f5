// SPDX-License-Identifier: Apache-2.0
// Tests for vmm/boot/cpuid.hpp on a hand-made KVM_GET_SUPPORTED_CPUID-like vector.
#include <catch.hpp>

#include <vector>

#include "vmm/boot/cpuid.hpp"

using namespace nexus::vmm::boot;

namespace {

kvm_cpuid_entry2 leaf(uint32_t function, uint32_t index, uint32_t eax, uint32_t ebx, uint32_t ecx,
                      uint32_t edx, bool indexed = false) {
  kvm_cpuid_entry2 e{};
  e.function = function;
  e.index = index;
  e.flags = indexed ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
  e.eax = eax;
  e.ebx = ebx;
  e.ecx = ecx;
  e.edx = edx;
  return e;
}

/// Host-like values: 16 logical CPUs, CX16, PDCM, turbo, WAITPKG, a PMU, host topology.
std::vector<kvm_cpuid_entry2> host_cpuid() {
  return {
      leaf(0x0, 0, 0x1F, 0x756E6547, 0x6C65746E, 0x49656E69),
      leaf(0x1, 0, 0x000906EA, 0x0F100800 | 0x42, (1u << 13) | (1u << 15) | (1u << 0),
           (1u << 28) | 1u),
      leaf(0x4, 0, 0x1C004121, 0x01C0003F, 0x3F, 0, true),  // L1d, 8 threads sharing
      leaf(0x4, 1, 0x1C004143, 0x01C0003F, 0x3FF, 0, true),  // L2
      leaf(0x4, 2, 0x1C03C163, 0x03C0003F, 0x3FFF, 6, true),  // L3
      leaf(0x4, 3, 0, 0, 0, 0, true),
      leaf(0x6, 0, 0x4 | 0x2, 0, 0x8 | 0x1, 0),
      leaf(0x7, 0, 0, 0x1, (1u << 5) | (1u << 2), 0, true),
      leaf(0x7, 1, 0, 0, 1u << 5, 0, true),  // subleaf 1 bit 5 is not WAITPKG
      leaf(0xA, 0, 0x07300404, 0, 0, 0x603),
      leaf(0xB, 0, 1, 2, 0x100, 0x7, true),  // host SMT level, no core level (newer KVM)
      leaf(0x1F, 0, 1, 2, 0x100, 0x7, true),
      leaf(0x1F, 1, 4, 16, 0x201, 0x7, true),
      leaf(0x40000000, 0, 0x40000001, 0x4B4D564B, 0x564B4D56, 0x4D),
  };
}

}  // namespace

TEST_CASE("CPUID leaf 1: APIC id, counts, feature bits", "[vmm][boot][cpuid]") {
  auto v = host_cpuid();
  normalize_cpuid(v, 2, 3);
  auto* l1 = find_cpuid(v, 1);
  REQUIRE(l1);
  CHECK((l1->ebx >> 24) == 2);            // initial APIC id
  CHECK(((l1->ebx >> 16) & 0xFF) == 4);   // next power of two >= 3
  CHECK(((l1->ebx >> 8) & 0xFF) == 8);    // CLFLUSH: 64-byte lines
  CHECK((l1->ebx & 0xFF) == 0x42);        // brand index kept
  CHECK((l1->ecx & cpuid_bit::kLeaf1EcxCx16) == 0);
  CHECK((l1->ecx & cpuid_bit::kLeaf1EcxPdcm) == 0);
  CHECK((l1->ecx & cpuid_bit::kLeaf1EcxTscDeadline) != 0);
  CHECK((l1->ecx & cpuid_bit::kLeaf1EcxHypervisor) != 0);
  CHECK((l1->ecx & 1) == 1);  // SSE3 passes through
  CHECK((l1->edx & cpuid_bit::kLeaf1EdxHtt) != 0);
  CHECK(l1->eax == 0x000906EA);

  auto one = host_cpuid();
  normalize_cpuid(one, 0, 1);
  auto* u1 = find_cpuid(one, 1);
  CHECK((u1->ebx >> 24) == 0);
  CHECK(((u1->ebx >> 16) & 0xFF) == 1);
  CHECK((u1->edx & cpuid_bit::kLeaf1EdxHtt) == 0);
  CHECK((u1->edx & 1) == 1);
}

TEST_CASE("CPUID power, extended features and PMU leaves", "[vmm][boot][cpuid]") {
  auto v = host_cpuid();
  normalize_cpuid(v, 0, 2);
  auto* l6 = find_cpuid(v, 6);
  CHECK(l6->eax == 0x4);  // turbo off, ARAT kept
  CHECK(l6->ecx == 0x1);  // EPB off
  auto* l7 = find_cpuid(v, 7, 0);
  CHECK((l7->ecx & cpuid_bit::kLeaf7EcxWaitpkg) == 0);
  CHECK((l7->ecx & (1u << 2)) != 0);
  CHECK((l7->ebx & cpuid_bit::kLeaf7EbxFdpExcptnOnly) != 0);
  CHECK((l7->ebx & cpuid_bit::kLeaf7EbxFcsFdsDeprecated) != 0);
  CHECK(find_cpuid(v, 7, 1)->ecx == (1u << 5));
  auto* la = find_cpuid(v, 0xA);
  CHECK((la->eax | la->ebx | la->ecx | la->edx) == 0);
  auto* kvm = find_cpuid(v, 0x40000000);
  CHECK(kvm->ebx == 0x4B4D564B);  // the KVM paravirt leaves pass through
  CHECK(find_cpuid(v, 0)->eax == 0x1F);
}

TEST_CASE("CPUID cache leaf 4 describes one package of vCPU cores", "[vmm][boot][cpuid]") {
  auto v = host_cpuid();
  normalize_cpuid(v, 1, 4);
  auto* l1d = find_cpuid(v, 4, 0);
  CHECK(((l1d->eax >> 14) & 0xFFF) == 0);  // per core
  CHECK((l1d->eax >> 26) == 3);            // 4 cores
  CHECK((l1d->eax & 0x3FFF) == 0x121);     // type and level kept
  auto* l3 = find_cpuid(v, 4, 2);
  CHECK(((l3->eax >> 14) & 0xFFF) == 3);   // shared by all 4
  CHECK(l3->edx == 6);
  CHECK(find_cpuid(v, 4, 3)->eax == 0);
}

TEST_CASE("CPUID topology leaves 0xB and 0x1F: x2APIC id = index", "[vmm][boot][cpuid]") {
  auto v = host_cpuid();
  size_t before = v.size();
  normalize_cpuid(v, 5, 6);
  CHECK(v.size() == before + 3);  // 0xB: 1 -> 3 subleaves, 0x1F: 2 -> 3
  for (uint32_t fn : {0xBu, 0x1Fu}) {
    INFO("leaf " << fn);
    auto* smt = find_cpuid(v, fn, 0);
    auto* core = find_cpuid(v, fn, 1);
    auto* end = find_cpuid(v, fn, 2);
    REQUIRE(smt);
    REQUIRE(core);
    REQUIRE(end);
    CHECK(smt->flags == KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
    CHECK(smt->eax == 0);
    CHECK(smt->ebx == 1);
    CHECK(smt->ecx == 0x100);
    CHECK(smt->edx == 5);
    CHECK(core->eax == 3);  // 6 cores need 3 bits of APIC id
    CHECK(core->ebx == 6);
    CHECK(core->ecx == 0x201);
    CHECK(core->edx == 5);
    CHECK(((end->ecx >> 8) & 0xFF) == 0);
    CHECK(find_cpuid(v, fn, 3) == nullptr);
  }
  // Order kept: the topology subleaves replace the originals in place.
  CHECK(v.back().function == 0x40000000);

  std::vector<kvm_cpuid_entry2> no_topology = {leaf(0x1, 0, 0, 0, 0, 0)};
  normalize_cpuid(no_topology, 0, 1);
  CHECK(no_topology.size() == 1);  // not invented where the host has none
}
