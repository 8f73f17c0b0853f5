// SPDX-License-Identifier: Apache-2.0
#include "vmm/guest_memory.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <utility>

namespace nexus::vmm {
namespace {
constexpr uint64_t kLowMemLimit = 3ull << 30;  // the 32-bit MMIO gap starts at 3 GiB
constexpr uint64_t kHighMemStart = 4ull << 30;
}  // namespace

GuestMemory::GuestMemory(std::vector<MemoryRegion> regions) : regions_(std::move(regions)) {
  std::sort(regions_.begin(), regions_.end(),
            [](const MemoryRegion& a, const MemoryRegion& b) { return a.gpa < b.gpa; });
}

GuestMemory::~GuestMemory() {
  if (!owned_) return;
  for (auto& r : regions_) ::munmap(r.host, r.size);
}

GuestMemory::GuestMemory(GuestMemory&& o) noexcept
    : regions_(std::move(o.regions_)), owned_(std::exchange(o.owned_, false)) {
  o.regions_.clear();
}

GuestMemory& GuestMemory::operator=(GuestMemory&& o) noexcept {
  if (this != &o) {
    this->~GuestMemory();
    regions_ = std::move(o.regions_);
    o.regions_.clear();
    owned_ = std::exchange(o.owned_, false);
  }
  return *this;
}

Result<GuestMemory> GuestMemory::allocate(uint64_t size_bytes) {
  if (size_bytes == 0 || size_bytes % 4096 != 0)
    return fail(Errc::invalid_argument, "guest memory size must be a non-zero multiple of 4 KiB");
  std::vector<std::pair<uint64_t, uint64_t>> layout;
  layout.emplace_back(0, std::min(size_bytes, kLowMemLimit));
  if (size_bytes > kLowMemLimit) layout.emplace_back(kHighMemStart, size_bytes - kLowMemLimit);
  GuestMemory mem;
  mem.owned_ = true;
  for (auto [gpa, size] : layout) {
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return fail_errno("mapping guest memory");
    (void)::madvise(p, size, MADV_DONTDUMP);  // guest RAM never goes into a core dump
    mem.regions_.push_back({gpa, size, static_cast<uint8_t*>(p)});
  }
  return mem;
}

uint8_t* GuestMemory::ptr(uint64_t gpa, uint64_t len) const noexcept {
  for (const auto& r : regions_) {
    if (gpa < r.gpa) return nullptr;  // sorted: gpa lies in a hole
    uint64_t off = gpa - r.gpa;
    if (off > r.size) continue;
    if (len > r.size - off) return nullptr;  // runs off this region (regions never touch)
    return r.host + off;
  }
  return nullptr;
}

bool GuestMemory::read(uint64_t gpa, void* dst, size_t len) const noexcept {
  const uint8_t* p = ptr(gpa, len);
  if (!p) return false;
  if (len) std::memcpy(dst, p, len);
  return true;
}

bool GuestMemory::write(uint64_t gpa, const void* src, size_t len) const noexcept {
  uint8_t* p = ptr(gpa, len);
  if (!p) return false;
  if (len) std::memcpy(p, src, len);
  return true;
}

uint64_t GuestMemory::total_size() const noexcept {
  uint64_t t = 0;
  for (const auto& r : regions_) t += r.size;
  return t;
}

uint64_t GuestMemory::low_end() const noexcept {
  for (const auto& r : regions_)
    if (r.gpa == 0) return r.size;
  return 0;
}

}  // namespace nexus::vmm
