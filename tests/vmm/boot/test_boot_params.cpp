// SPDX-License-Identifier: Apache-2.0
// Tests for vmm/boot/boot_params.hpp, initrd.hpp and cmdline.hpp: zero-page fields read back
// as raw bytes at their documented offsets, the e820 map, initrd placement, cmdline limits.
#include <catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "vmm/boot/boot_params.hpp"
#include "vmm/boot/cmdline.hpp"
#include "vmm/boot/initrd.hpp"
#include "vmm/boot/layout.hpp"

using namespace nexus::vmm;
using namespace nexus::vmm::boot;

namespace {

GuestMemory guest(uint64_t size) {
  auto mem = GuestMemory::allocate(size);
  REQUIRE(mem.has_value());
  return std::move(*mem);
}

template <class T>
T raw(const GuestMemory& mem, uint64_t gpa) {
  T v{};
  REQUIRE(mem.read_obj(gpa, v));
  return v;
}

struct RawE820 {
  uint64_t addr, size;
  uint32_t type;
};

std::vector<RawE820> raw_e820(const GuestMemory& mem) {
  std::vector<RawE820> out(raw<uint8_t>(mem, kZeroPageAddr + 0x1E8));
  for (size_t i = 0; i < out.size(); ++i) {
    uint64_t at = kZeroPageAddr + 0x2D0 + i * 20;  // packed {u64, u64, u32}
    out[i] = {raw<uint64_t>(mem, at), raw<uint64_t>(mem, at + 8), raw<uint32_t>(mem, at + 16)};
  }
  return out;
}

}  // namespace

TEST_CASE("the zero page fields sit at their documented offsets", "[vmm][boot][zeropage]") {
  auto mem = guest(128 * kMiB);
  std::vector<uint8_t> dirt(4096, 0xEE);
  REQUIRE(mem.write(kZeroPageAddr, dirt.data(), dirt.size()));  // every other field must be 0

  BootParams bp;
  bp.cmdline = "console=ttyS0 reboot=k panic=1";
  bp.initrd_gpa = 0x7000000;
  bp.initrd_size = 0x123456;
  REQUIRE(write_boot_params(mem, bp).has_value());

  const uint64_t z = kZeroPageAddr;
  CHECK(raw<uint16_t>(mem, z + 0x1FE) == 0xAA55);      // boot_flag
  CHECK(raw<uint32_t>(mem, z + 0x202) == 0x53726448);  // "HdrS"
  CHECK(raw<uint8_t>(mem, z + 0x210) == 0xFF);         // type_of_loader
  CHECK(raw<uint32_t>(mem, z + 0x218) == 0x7000000);   // ramdisk_image
  CHECK(raw<uint32_t>(mem, z + 0x21C) == 0x123456);    // ramdisk_size
  CHECK(raw<uint32_t>(mem, z + 0x228) == 0x20000);     // cmd_line_ptr
  CHECK(raw<uint32_t>(mem, z + 0x230) == 0x01000000);  // kernel_alignment
  CHECK(raw<uint32_t>(mem, z + 0x238) == bp.cmdline.size() + 1);  // cmdline_size
  CHECK(raw<uint8_t>(mem, z + 0x1E8) == 3);                       // e820_entries
  CHECK(raw<uint64_t>(mem, z + 0x2D0) == 0);                      // e820_table[0].addr
  CHECK(raw<uint64_t>(mem, z + 0x2D0 + 8) == 0x9FC00);            // .size
  CHECK(raw<uint32_t>(mem, z + 0x2D0 + 16) == kE820Ram);          // .type
  CHECK(raw<uint16_t>(mem, z + 0x206) == 0);                      // version: no image header
  CHECK(raw<uint8_t>(mem, z + 0x211) == 0);                       // loadflags
  CHECK(raw<uint32_t>(mem, z + 0x0C0) == 0);                      // ext_ramdisk_image
  CHECK(raw<uint64_t>(mem, z + 0x070) == 0);                      // acpi_rsdp_addr: no ACPI

  std::vector<char> cmd(bp.cmdline.size() + 1, 'x');
  REQUIRE(mem.read(kCmdlineAddr, cmd.data(), cmd.size()));
  CHECK(std::string(cmd.data()) == bp.cmdline);
  CHECK(cmd.back() == '\0');
}

TEST_CASE("e820 for 128 MiB: low RAM, the reserved BIOS area, RAM from 1 MiB",
          "[vmm][boot][zeropage]") {
  auto mem = guest(128 * kMiB);
  std::vector<E820Entry> want = {{0, 0x9FC00, kE820Ram},
                                 {0x9FC00, 0x100000 - 0x9FC00, kE820Reserved},
                                 {0x100000, 127 * kMiB, kE820Ram}};
  CHECK(e820_map(mem) == want);
  REQUIRE(write_boot_params(mem, BootParams{"", 0, 0}).has_value());
  auto table = raw_e820(mem);
  REQUIRE(table.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    CHECK(table[i].addr == want[i].addr);
    CHECK(table[i].size == want[i].size);
    CHECK(table[i].type == want[i].type);
  }
}

TEST_CASE("e820 for more than 3 GiB: RAM continues above the MMIO gap at 4 GiB",
          "[vmm][boot][zeropage]") {
  // A 5 GiB layout as GuestMemory::allocate makes it. Only the first MiB is backed: the zero
  // page and the command line are all write_boot_params touches.
  std::vector<uint8_t> low(kMiB);
  GuestMemory mem({{0, 3 * kGiB, low.data()}, {4 * kGiB, 2 * kGiB, nullptr}});
  std::vector<E820Entry> want = {{0, 0x9FC00, kE820Ram},
                                 {0x9FC00, 0x100000 - 0x9FC00, kE820Reserved},
                                 {0x100000, 3 * kGiB - 0x100000, kE820Ram},
                                 {4 * kGiB, 2 * kGiB, kE820Ram}};
  CHECK(e820_map(mem) == want);
  REQUIRE(write_boot_params(mem, BootParams{"root=/dev/vda", 0, 0}).has_value());
  auto table = raw_e820(mem);
  REQUIRE(table.size() == 4);
  CHECK(table[3].addr == 4 * kGiB);
  CHECK(table[3].size == 2 * kGiB);
  CHECK(table[3].type == kE820Ram);
}

TEST_CASE("the command line limit and initrd checks", "[vmm][boot][zeropage]") {
  auto mem = guest(64 * kMiB);
  CHECK(write_boot_params(mem, BootParams{std::string(2047, 'a'), 0, 0}).has_value());
  auto too_long = write_boot_params(mem, BootParams{std::string(2048, 'a'), 0, 0});
  REQUIRE_FALSE(too_long.has_value());
  CHECK(too_long.error().message() == "kernel command line is 2048 bytes; the limit is 2047");
  auto nul = write_boot_params(mem, BootParams{std::string("a\0b", 3), 0, 0});
  REQUIRE_FALSE(nul.has_value());
  CHECK(nul.error().message() == "kernel command line contains a NUL byte");
  auto outside = write_boot_params(mem, BootParams{"", 63 * kMiB, 2 * kMiB});
  REQUIRE_FALSE(outside.has_value());
  CHECK(outside.error().message() ==
        "initrd at 0x3f00000 (2097152 bytes) is not in guest memory below 4 GiB");
}

TEST_CASE("the initrd goes page-aligned at the top of low RAM, above the kernel",
          "[vmm][boot][initrd]") {
  auto mem = guest(128 * kMiB);
  std::vector<uint8_t> initrd(10000, 0x5A);
  auto gpa = place_initrd(mem, initrd, 0x1800000);
  REQUIRE(gpa.has_value());
  CHECK(*gpa % 4096 == 0);
  CHECK(*gpa + initrd.size() <= 128 * kMiB);
  CHECK(*gpa + initrd.size() + 4096 > 128 * kMiB);  // as high as it goes
  CHECK(raw<uint8_t>(mem, *gpa + 9999) == 0x5A);

  // With more than 3 GiB it stays in the low region (32-bit ramdisk_image).
  std::vector<uint8_t> low(kMiB);
  GuestMemory big({{0, 3 * kGiB, low.data()}, {4 * kGiB, kGiB, nullptr}});
  auto high = initrd_address(big, 16 * kMiB, 0x2000000);
  REQUIRE(high.has_value());
  CHECK(*high == 3 * kGiB - 16 * kMiB);

  auto no_room = initrd_address(mem, 120 * kMiB, 0x1800000);
  REQUIRE_FALSE(no_room.has_value());
  CHECK(no_room.error().message() == "initrd of 125829120 bytes does not fit in guest memory");
  CHECK_FALSE(initrd_address(mem, 200 * kMiB, 0).has_value());
  CHECK_FALSE(initrd_address(mem, 0, 0).has_value());
  // Just fits: [kernel_end rounded up, top).
  CHECK(initrd_address(mem, 128 * kMiB - 0x1800000, 0x1800000).value() == 0x1800000);
  CHECK_FALSE(initrd_address(mem, 128 * kMiB - 0x1800000 + 1, 0x1800000).has_value());
}

TEST_CASE("virtio_mmio.device= arguments", "[vmm][boot][cmdline]") {
  CHECK(virtio_mmio_cmdline_arg(0xc0001000, 0x1000, 5).value() ==
        "virtio_mmio.device=4K@0xc0001000:5");
  CHECK(virtio_mmio_cmdline_arg(virtio_mmio_slot_base(2), kVirtioMmioSlotSize,
                                virtio_mmio_slot_irq(2))
            .value() == "virtio_mmio.device=4K@0xc0003000:7");
  CHECK(virtio_mmio_cmdline_arg(0xd0000000, 2 * kMiB, 9).value() ==
        "virtio_mmio.device=2M@0xd0000000:9");
  CHECK(virtio_mmio_cmdline_arg(0xc0000000, 512, 23).value() ==
        "virtio_mmio.device=512@0xc0000000:23");
  CHECK_FALSE(virtio_mmio_cmdline_arg(0xc0001000, 0, 5).has_value());
  CHECK_FALSE(virtio_mmio_cmdline_arg(0xc0001000, 0x1000, 0).has_value());
  auto bad_irq = virtio_mmio_cmdline_arg(0xc0001000, 0x1000, 24);
  REQUIRE_FALSE(bad_irq.has_value());
  CHECK(bad_irq.error().message() == "virtio-mmio IRQ 24 is not an IOAPIC pin (1..23)");
  CHECK(virtio_mmio_slot_irq(kVirtioMmioMaxSlots - 1) == 23);
}
