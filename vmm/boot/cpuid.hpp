// SPDX-License-Identifier: Apache-2.0
// CPUID normalisation: turn KVM_GET_SUPPORTED_CPUID's entries into what one vCPU of an
// N-vCPU guest should see (vmm-notes §1.4, §7.3; after Firecracker's cpuid-normalization).
//
// Topology: one package, vcpu_count cores, one thread each; APIC id = x2APIC id = vCPU index.
// Features: HYPERVISOR and TSC_DEADLINE on; PDCM, CX16 (cmpxchg16b at CPL0 is not emulated on
// the PVM hosts), WAITPKG, turbo/EPB and the PMU (leaf 0xA) hidden. Leaves not named here
// (including KVM's paravirt leaves 0x40000000+) pass through.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <vector>


namespace nexus::vmm::boot {

namespace cpuid_bit {
inline constexpr uint32_t kLeaf1EcxCx16 = 1u << 13;
inline constexpr uint32_t kLeaf1EcxPdcm = 1u << 15;
inline constexpr uint32_t kLeaf1EcxTscDeadline = 1u << 24;
inline constexpr uint32_t kLeaf1EcxHypervisor = 1u << 31;
inline constexpr uint32_t kLeaf1EdxHtt = 1u << 28;
inline constexpr uint32_t kLeaf6EaxTurbo = 1u << 1;
inline constexpr uint32_t kLeaf6EcxEpb = 1u << 3;
inline constexpr uint32_t kLeaf7EbxFdpExcptnOnly = 1u << 6;
inline constexpr uint32_t kLeaf7EbxFcsFdsDeprecated = 1u << 13;
inline constexpr uint32_t kLeaf7EcxWaitpkg = 1u << 5;
}  // namespace cpuid_bit

/// Normalise `entries` in place for vCPU `vcpu_index` (0-based) of `vcpu_count`.
/// Leaves 0xB and 0x1F, when present, are replaced by subleaves describing the topology above.
void normalize_cpuid(std::vector<kvm_cpuid_entry2>& entries, unsigned vcpu_index,
                     unsigned vcpu_count);

/// The entry for (function, index), or nullptr.
kvm_cpuid_entry2* find_cpuid(std::vector<kvm_cpuid_entry2>& entries, uint32_t function,
                             uint32_t index = 0);

}  // namespace nexus::vmm::boot
