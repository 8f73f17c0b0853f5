// SPDX-License-Identifier: Apache-2.0
// GuardedMemory: small guest RAM for the fuzzers, each region mapped between two PROT_NONE
// guard pages, so any access the code under test makes outside guest memory faults at once
// (with or without a sanitizer). Regions are left with a hole between them, as on x86.
#pragma once

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "vmm/guest_memory.hpp"

namespace nexus::vmm::virtio::testing {

class GuardedMemory {
 public:
  struct Layout {
    uint64_t gpa;
    uint64_t size;  ///< a multiple of 4 KiB
  };
  explicit GuardedMemory(std::vector<Layout> layout) {
    std::vector<MemoryRegion> regions;
    for (const auto& l : layout) {
      const size_t total = l.size + 2 * kPage;
      void* p = ::mmap(nullptr, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) std::abort();
      auto* base = static_cast<uint8_t*>(p);
      if (::mprotect(base + kPage, l.size, PROT_READ | PROT_WRITE) != 0) std::abort();
      regions.push_back({l.gpa, l.size, base + kPage});
    }
    regions_ = regions;
    mem_ = GuestMemory(std::move(regions));
  }
  GuardedMemory(const GuardedMemory&) = delete;
  GuardedMemory& operator=(const GuardedMemory&) = delete;
  ~GuardedMemory() {
    for (const auto& r : regions_) ::munmap(r.host - kPage, r.size + 2 * kPage);
  }

  const GuestMemory& memory() const { return mem_; }
  /// Zero all of guest RAM (between inputs).
  void clear() {
    for (const auto& r : regions_) std::memset(r.host, 0, r.size);
  }

 private:
  static constexpr size_t kPage = 4096;
  std::vector<MemoryRegion> regions_;
  GuestMemory mem_;
};

}  // namespace nexus::vmm::virtio::testing
