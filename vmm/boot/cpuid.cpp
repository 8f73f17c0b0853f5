// SPDX-License-Identifier: Apache-2.0
// Per-vCPU CPUID normalisation.
#include "vmm/boot/cpuid.hpp"

#include <algorithm>
#include <bit>

namespace nexus::vmm::boot {
namespace {

namespace b = cpuid_bit;

constexpr uint32_t kLevelSmt = 1, kLevelCore = 2;  // leaf 0xB/0x1F ECX[15:8] level types
constexpr uint32_t kClflushLine8 = 8;               // in 8-byte units: 64-byte lines

void leaf1(kvm_cpuid_entry2& e, unsigned index, unsigned count) {
  uint32_t logical = std::min<uint32_t>(std::bit_ceil(count), 255);
  e.ebx = (e.ebx & 0xFF) | (kClflushLine8 << 8) | (logical << 16) | ((index & 0xFF) << 24);
  e.ecx &= ~(b::kLeaf1EcxPdcm | b::kLeaf1EcxCx16);
  e.ecx |= b::kLeaf1EcxTscDeadline | b::kLeaf1EcxHypervisor;
  if (count > 1)
    e.edx |= b::kLeaf1EdxHtt;
  else
    e.edx &= ~b::kLeaf1EdxHtt;
}

// Deterministic cache parameters: EAX[25:14] = logical CPUs sharing the cache - 1,
// EAX[31:26] = cores in the package - 1. L1/L2 per core, L3 shared by the package.
void leaf4(kvm_cpuid_entry2& e, unsigned count) {
  if ((e.eax & 0x1F) == 0) return;  // cache type 0: no more caches
  uint32_t level = (e.eax >> 5) & 0x7;
  uint32_t sharing = level >= 3 ? std::min<uint32_t>(count, 4096) - 1 : 0;
  uint32_t cores = std::min<uint32_t>(count, 64) - 1;
  e.eax = (e.eax & 0x3FFF) | (sharing << 14) | (cores << 26);
}

kvm_cpuid_entry2 topology(uint32_t function, uint32_t subleaf, unsigned index, unsigned count) {
  kvm_cpuid_entry2 e{};
  e.function = function;
  e.index = subleaf;
  e.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
  e.edx = index;  // x2APIC id
  e.ecx = subleaf & 0xFF;
  if (subleaf == 0) {  // SMT: one thread per core
    e.eax = 0;
    e.ebx = 1;
    e.ecx |= kLevelSmt << 8;
  } else if (subleaf == 1) {  // cores: all vCPUs in one package
    e.eax = static_cast<uint32_t>(std::bit_width(count - 1));  // bits of the APIC id for cores
    e.ebx = count;
    e.ecx |= kLevelCore << 8;
  }  // subleaf 2: level type 0 ends the enumeration
  return e;
}

void replace_topology(std::vector<kvm_cpuid_entry2>& entries, uint32_t function, unsigned index,
                      unsigned count) {
  auto is_leaf = [function](const kvm_cpuid_entry2& e) { return e.function == function; };
  auto first = std::find_if(entries.begin(), entries.end(), is_leaf);
  if (first == entries.end()) return;
  size_t at = static_cast<size_t>(first - entries.begin());
  entries.erase(std::remove_if(entries.begin(), entries.end(), is_leaf), entries.end());
  const kvm_cpuid_entry2 subleaves[] = {topology(function, 0, index, count),
                                        topology(function, 1, index, count),
                                        topology(function, 2, index, count)};
  entries.insert(entries.begin() + static_cast<std::ptrdiff_t>(at), std::begin(subleaves),
                 std::end(subleaves));
}

}  // namespace

kvm_cpuid_entry2* find_cpuid(std::vector<kvm_cpuid_entry2>& entries, uint32_t function,
                             uint32_t index) {
  for (auto& e : entries)
    if (e.function == function &&
        (e.index == index || !(e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX)))
      return &e;
  return nullptr;
}

void normalize_cpuid(std::vector<kvm_cpuid_entry2>& entries, unsigned vcpu_index,
                     unsigned vcpu_count) {
  const unsigned count = std::max(vcpu_count, 1u);
  for (auto& e : entries) {
    switch (e.function) {
      case 0x1:
        leaf1(e, vcpu_index, count);
        break;
      case 0x4:
        leaf4(e, count);
        break;
      case 0x6:
        e.eax &= ~b::kLeaf6EaxTurbo;
        e.ecx &= ~b::kLeaf6EcxEpb;
        break;
      case 0x7:
        if (e.index == 0) {
          e.ebx |= b::kLeaf7EbxFdpExcptnOnly | b::kLeaf7EbxFcsFdsDeprecated;
          e.ecx &= ~b::kLeaf7EcxWaitpkg;
        }
        break;
      case 0xA:  // architectural PMU: none
        e.eax = e.ebx = e.ecx = e.edx = 0;
        break;
      default:
        break;
    }
  }
  replace_topology(entries, 0xB, vcpu_index, count);
  replace_topology(entries, 0x1F, vcpu_index, count);
}

}  // namespace nexus::vmm::boot
