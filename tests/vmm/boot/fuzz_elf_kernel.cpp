// SPDX-License-Identifier: Apache-2.0
// Fuzz the vmlinux loader (the kernel image is untrusted input) and the zero-page writer.
//
// Input: byte 0 = vCPU count for the MP table, bytes 1..2 = command line length L (little-
// endian), then L bytes of command line, then the ELF file. Shorter inputs are all ELF.
#include <algorithm>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz.hpp"
#include "vmm/boot/boot_params.hpp"
#include "vmm/boot/elf_loader.hpp"
#include "vmm/boot/initrd.hpp"
#include "vmm/boot/layout.hpp"
#include "vmm/boot/mptable.hpp"

namespace boot = nexus::vmm::boot;
using nexus::vmm::GuestMemory;

namespace {

constexpr uint64_t kGuestSize = 32 * boot::kMiB;

const GuestMemory& guest() {
  static GuestMemory mem = [] {
    auto m = GuestMemory::allocate(kGuestSize);
    FUZZ_CHECK(m.has_value());
    return std::move(*m);
  }();
  return mem;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const GuestMemory& mem = guest();
  std::span<const uint8_t> input(data, size);
  int vcpus = 1;
  std::string cmdline;
  if (input.size() >= 3) {
    vcpus = input[0];
    size_t len = std::min<size_t>(input[1] | size_t{input[2]} << 8, input.size() - 3);
    cmdline.assign(reinterpret_cast<const char*>(input.data() + 3), len);
    input = input.subspan(3 + len);
  }

  auto image = boot::load_elf_kernel(mem, input);
  uint64_t kernel_end = boot::kHimemStart;
  if (image) {
    FUZZ_CHECK(image->entry >= boot::kHimemStart);
    FUZZ_CHECK(image->entry < image->kernel_end);
    FUZZ_CHECK(image->kernel_end <= kGuestSize);
    kernel_end = image->kernel_end;
  } else {
    FUZZ_CHECK(!image.error().message().empty());
  }

  boot::BootParams bp;
  bp.cmdline = cmdline;
  auto initrd = input.subspan(0, std::min<size_t>(input.size(), 64 * 1024));
  if (!initrd.empty()) {
    auto gpa = boot::place_initrd(mem, initrd, kernel_end);
    if (gpa) {
      FUZZ_CHECK(*gpa % 4096 == 0 && *gpa >= kernel_end && *gpa + initrd.size() <= kGuestSize);
      bp.initrd_gpa = *gpa;
      bp.initrd_size = initrd.size();
    }
  }
  auto written = boot::write_boot_params(mem, bp);
  bool valid_cmdline = cmdline.size() < boot::kCmdlineMaxSize &&
                       cmdline.find('\0') == std::string::npos;
  FUZZ_CHECK(written.has_value() == valid_cmdline);
  if (written) {
    std::string back(cmdline.size() + 1, 'x');
    FUZZ_CHECK(mem.read(boot::kCmdlineAddr, back.data(), back.size()));
    FUZZ_CHECK(back.back() == '\0' && back.compare(0, cmdline.size(), cmdline) == 0);
  }

  auto mp = boot::write_mptable(mem, vcpus);
  FUZZ_CHECK(mp.has_value() == (vcpus >= 1 && vcpus <= boot::kMpMaxVcpus));
  if (mp) {
    std::vector<uint8_t> table(boot::mptable_size(vcpus));
    FUZZ_CHECK(mem.read(boot::kMpTableAddr, table.data(), table.size()));
    uint8_t sum = 0;
    for (size_t i = 16; i < table.size(); ++i) sum = static_cast<uint8_t>(sum + table[i]);
    FUZZ_CHECK(sum == 0);
  }
  return 0;
}
