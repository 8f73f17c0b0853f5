// SPDX-License-Identifier: Apache-2.0
// The Intel MultiProcessor Specification 1.4 table at 0x9FC00: how a guest without ACPI finds
// its CPUs, the IOAPIC and the routing of ISA IRQs 0..23 to IOAPIC pins 0..23 (identity, as in
// KVM's default GSI routing). Needs CONFIG_X86_MPPARSE=y in the guest.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/result.hpp"
#include "vmm/guest_memory.hpp"

namespace nexus::vmm::boot {

inline constexpr int kMpMaxVcpus = 254;  ///< APIC ids 0..253; the IOAPIC takes vcpus + 1

/// Bytes the table takes for `vcpus` processors (floating pointer included).
size_t mptable_size(int vcpus);

/// Write the floating pointer and the configuration table; vcpus in [1, 254].
Result<void> write_mptable(const GuestMemory& mem, int vcpus);

}  // namespace nexus::vmm::boot
