// SPDX-License-Identifier: Apache-2.0
// Zero page, e820 map and command line.
#include "vmm/boot/boot_params.hpp"

#include <asm/bootparam.h>

#include <algorithm>
#include <cstddef>
#include <memory>

#include <fmt/format.h>

#include "vmm/boot/layout.hpp"

namespace nexus::vmm::boot {
namespace {

static_assert(sizeof(boot_params) == 4096);
static_assert(offsetof(boot_params, e820_entries) == 0x1E8);
static_assert(offsetof(boot_params, hdr) == 0x1F1);
static_assert(offsetof(boot_params, e820_table) == 0x2D0);

constexpr uint16_t kBootFlag = 0xAA55;
constexpr uint32_t kHdrSMagic = 0x53726448;  // "HdrS"
constexpr uint8_t kLoaderUndefined = 0xFF;   // type_of_loader: "other"
constexpr uint32_t kKernelAlignment = 0x01000000;

}  // namespace

std::vector<E820Entry> e820_map(const GuestMemory& mem) {
  std::vector<E820Entry> map;
  map.push_back({kSystemMemStart, kHimemStart - kSystemMemStart, kE820Reserved});
  for (const auto& r : mem.regions()) {
    uint64_t start = r.gpa;
    uint64_t end = r.gpa + r.size;
    // Cut the reserved range out of the region; the rest is RAM.
    if (start < kSystemMemStart) map.push_back({start, std::min(end, kSystemMemStart) - start,
                                                kE820Ram});
    if (end > kHimemStart) {
      uint64_t from = std::max(start, kHimemStart);
      map.push_back({from, end - from, kE820Ram});
    }
  }
  std::sort(map.begin(), map.end(),
            [](const E820Entry& a, const E820Entry& b) { return a.addr < b.addr; });
  return map;
}

Result<void> write_boot_params(const GuestMemory& mem, const BootParams& params) {
  const std::string& cmdline = params.cmdline;
  if (cmdline.size() + 1 > kCmdlineMaxSize)
    return fail(Errc::too_large, fmt::format("kernel command line is {} bytes; the limit is {}",
                                             cmdline.size(), kCmdlineMaxSize - 1));
  if (cmdline.find('\0') != std::string::npos)
    return fail(Errc::invalid_argument, "kernel command line contains a NUL byte");
  if (params.initrd_size != 0 || params.initrd_gpa != 0) {
    if (params.initrd_size == 0 || params.initrd_gpa + params.initrd_size < params.initrd_gpa ||
        params.initrd_gpa + params.initrd_size > kMmioGapEnd ||
        !mem.contains(params.initrd_gpa, params.initrd_size))
      return fail(Errc::invalid_argument,
                  fmt::format("initrd at {:#x} ({} bytes) is not in guest memory below 4 GiB",
                              params.initrd_gpa, params.initrd_size));
  }
  auto map = e820_map(mem);
  if (map.size() > E820_MAX_ENTRIES_ZEROPAGE)
    return fail(Errc::invalid_argument,
                fmt::format("guest memory has {} e820 entries; the zero page holds {}",
                            map.size(), E820_MAX_ENTRIES_ZEROPAGE));

  auto bp = std::make_unique<boot_params>();  // value-initialised: all zero
  bp->hdr.boot_flag = kBootFlag;
  bp->hdr.header = kHdrSMagic;
  bp->hdr.type_of_loader = kLoaderUndefined;
  bp->hdr.cmd_line_ptr = static_cast<uint32_t>(kCmdlineAddr);
  bp->hdr.cmdline_size = static_cast<uint32_t>(cmdline.size() + 1);
  bp->hdr.kernel_alignment = kKernelAlignment;
  bp->hdr.ramdisk_image = static_cast<uint32_t>(params.initrd_gpa);
  bp->hdr.ramdisk_size = static_cast<uint32_t>(params.initrd_size);
  bp->e820_entries = static_cast<uint8_t>(map.size());
  for (size_t i = 0; i < map.size(); ++i) {
    bp->e820_table[i].addr = map[i].addr;
    bp->e820_table[i].size = map[i].size;
    bp->e820_table[i].type = map[i].type;
  }

  if (!mem.write(kCmdlineAddr, cmdline.c_str(), cmdline.size() + 1))
    return fail(Errc::invalid_argument, "guest memory does not cover the kernel command line");
  if (!mem.write_obj(kZeroPageAddr, *bp))
    return fail(Errc::invalid_argument, "guest memory does not cover the zero page");
  return {};
}

}  // namespace nexus::vmm::boot
