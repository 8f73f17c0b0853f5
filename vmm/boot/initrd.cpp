// SPDX-License-Identifier: Apache-2.0
// Initrd placement at the top of low RAM.
#include "vmm/boot/initrd.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "vmm/boot/layout.hpp"

namespace nexus::vmm::boot {
namespace {
constexpr uint64_t kPage = 4096;
}  // namespace

Result<uint64_t> initrd_address(const GuestMemory& mem, uint64_t size, uint64_t kernel_end) {
  if (size == 0) return fail(Errc::invalid_argument, "the initrd is empty");
  // Low RAM: the region at GPA 0; it ends below the MMIO gap, so below 4 GiB.
  uint64_t top = std::min(mem.low_end(), kMmioGapStart) & ~(kPage - 1);
  uint64_t floor = std::max(kernel_end, kHimemStart);
  floor = floor > UINT64_MAX - (kPage - 1) ? UINT64_MAX : (floor + kPage - 1) & ~(kPage - 1);
  if (size > top || ((top - size) & ~(kPage - 1)) < floor)
    return fail(Errc::too_large,
                fmt::format("initrd of {} bytes does not fit in guest memory", size));
  return (top - size) & ~(kPage - 1);
}

Result<uint64_t> place_initrd(const GuestMemory& mem, std::span<const uint8_t> initrd,
                              uint64_t kernel_end) {
  auto gpa = initrd_address(mem, initrd.size(), kernel_end);
  if (!gpa) return gpa;
  if (!mem.write(*gpa, initrd.data(), initrd.size()))
    return fail(Errc::internal, "initrd address outside guest memory");  // cannot happen
  return gpa;
}

}  // namespace nexus::vmm::boot
