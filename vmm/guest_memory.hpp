// SPDX-License-Identifier: Apache-2.0
// GuestMemory: the guest's RAM as host mappings, and bounds-checked access to it.
//
// Every guest physical address (GPA) a device or the boot code touches goes through here.
// A GPA range is accepted only when it lies wholly inside one region; nothing the guest
// writes into a descriptor can make us read or write outside the mappings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "common/result.hpp"

namespace nexus::vmm {

struct MemoryRegion {
  uint64_t gpa = 0;         ///< guest physical start
  uint64_t size = 0;        ///< bytes
  uint8_t* host = nullptr;  ///< host mapping of the region
};

class GuestMemory {
 public:
  GuestMemory() = default;
  /// Take regions that the caller mapped (and keeps mapped for this object's lifetime).
  /// Regions must not overlap; they are sorted by gpa.
  explicit GuestMemory(std::vector<MemoryRegion> regions);
  ~GuestMemory();
  GuestMemory(GuestMemory&&) noexcept;
  GuestMemory& operator=(GuestMemory&&) noexcept;
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;

  /// Map anonymous RAM in the x86 layout: [0, min(size, 3 GiB)) and, above that, from 4 GiB.
  /// The mappings are owned (unmapped on destruction).
  static Result<GuestMemory> allocate(uint64_t size_bytes);

  /// Host pointer for [gpa, gpa + len) if it lies inside one region, else nullptr.
  /// len == 0 is valid for any gpa inside a region (or at its end).
  uint8_t* ptr(uint64_t gpa, uint64_t len) const noexcept;
  bool contains(uint64_t gpa, uint64_t len) const noexcept { return ptr(gpa, len) != nullptr; }

  /// Copy out of / into guest memory; false (and nothing copied) if out of bounds.
  bool read(uint64_t gpa, void* dst, size_t len) const noexcept;
  bool write(uint64_t gpa, const void* src, size_t len) const noexcept;

  template <class T>
  bool read_obj(uint64_t gpa, T& out) const noexcept {
    static_assert(std::is_trivially_copyable_v<T>);
    return read(gpa, &out, sizeof(T));
  }
  template <class T>
  bool write_obj(uint64_t gpa, const T& v) const noexcept {
    static_assert(std::is_trivially_copyable_v<T>);
    return write(gpa, &v, sizeof(T));
  }

  const std::vector<MemoryRegion>& regions() const noexcept { return regions_; }
  /// Sum of region sizes.
  uint64_t total_size() const noexcept;
  /// One past the highest GPA of the region starting at 0 (the "low" RAM end), 0 if none.
  uint64_t low_end() const noexcept;

 private:
  std::vector<MemoryRegion> regions_;
  bool owned_ = false;
};

}  // namespace nexus::vmm
