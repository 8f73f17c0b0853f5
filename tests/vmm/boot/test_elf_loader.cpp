// SPDX-License-Identifier: Apache-2.0
// Tests for vmm/boot/elf_loader.hpp: a minimal vmlinux-shaped ELF built here, and each
// malformed variant rejected with its own message.
#include <catch.hpp>

#include <elf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "vmm/boot/elf_loader.hpp"
#include "vmm/boot/layout.hpp"

using namespace nexus::vmm;
using namespace nexus::vmm::boot;

namespace {

constexpr uint64_t kLoadAddr = 0x1000000;             // CONFIG_PHYSICAL_START
constexpr uint64_t kVirtBase = 0xffffffff81000000ULL;  // __START_KERNEL_map + 16 MiB
constexpr uint64_t kPayloadOffset = 0x1000;
constexpr uint64_t kPayloadSize = 0x180;
constexpr uint64_t kMemSize = 0x3000;  // BSS: [kPayloadSize, kMemSize)

/// A vmlinux-shaped ELF: one PT_LOAD (text + BSS) and a PT_NOTE, as separate parts so each
/// test can break one field; build() lays them out (program headers right after the header).
struct ElfSpec {
  Elf64_Ehdr eh{};
  std::vector<Elf64_Phdr> ph;
  std::vector<uint8_t> payload;

  ElfSpec() {
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_entry = kLoadAddr + 0x40;  // physical, like startup_64 in a real vmlinux
    eh.e_phoff = sizeof(Elf64_Ehdr);
    eh.e_ehsize = sizeof(Elf64_Ehdr);
    eh.e_phentsize = sizeof(Elf64_Phdr);
    Elf64_Phdr load{};
    load.p_type = PT_LOAD;
    load.p_flags = PF_R | PF_X;
    load.p_offset = kPayloadOffset;
    load.p_vaddr = kVirtBase;
    load.p_paddr = kLoadAddr;
    load.p_filesz = kPayloadSize;
    load.p_memsz = kMemSize;
    load.p_align = 0x200000;
    Elf64_Phdr note{};
    note.p_type = PT_NOTE;  // where a PVH note would be: ignored
    note.p_offset = kPayloadOffset;
    note.p_filesz = 0x10;
    ph = {load, note};
    payload.resize(kPayloadSize);
    for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i * 7 + 1);
  }

  std::vector<uint8_t> build() {
    if (eh.e_phnum == 0 && !ph.empty()) eh.e_phnum = static_cast<uint16_t>(ph.size());
    std::vector<uint8_t> out(kPayloadOffset + payload.size());
    std::memcpy(out.data(), &eh, sizeof eh);
    for (size_t i = 0; i < ph.size(); ++i)
      std::memcpy(out.data() + sizeof eh + i * sizeof(Elf64_Phdr), &ph[i], sizeof(Elf64_Phdr));
    std::memcpy(out.data() + kPayloadOffset, payload.data(), payload.size());
    return out;
  }
};

GuestMemory guest(uint64_t size = 64 * kMiB) {
  auto mem = GuestMemory::allocate(size);
  REQUIRE(mem.has_value());
  return std::move(*mem);
}

/// The error message of loading `file`, "" if it loaded.
std::string load_error(const std::vector<uint8_t>& file) {
  auto mem = guest();
  auto r = load_elf_kernel(mem, file);
  return r ? std::string() : r.error().message();
}

std::string load_error(ElfSpec spec) { return load_error(spec.build()); }

}  // namespace

TEST_CASE("a minimal ELF kernel loads at its physical address with its BSS zeroed",
          "[vmm][boot][elf]") {
  auto mem = guest();
  // Dirty the pages the segment covers, as a reused mapping would be.
  std::vector<uint8_t> dirt(kMemSize + 0x1000, 0xCC);
  REQUIRE(mem.write(kLoadAddr, dirt.data(), dirt.size()));

  ElfSpec spec;
  auto file = spec.build();
  auto image = load_elf_kernel(mem, file);
  REQUIRE(image.has_value());
  CHECK(image->entry == kLoadAddr + 0x40);
  CHECK(image->kernel_end == kLoadAddr + kMemSize);

  std::vector<uint8_t> loaded(kMemSize);
  REQUIRE(mem.read(kLoadAddr, loaded.data(), loaded.size()));
  CHECK(std::equal(spec.payload.begin(), spec.payload.end(), loaded.begin()));
  bool bss_zero = std::all_of(loaded.begin() + kPayloadSize, loaded.end(),
                              [](uint8_t b) { return b == 0; });
  CHECK(bss_zero);
  uint8_t after = 0;
  REQUIRE(mem.read_obj(kLoadAddr + kMemSize, after));
  CHECK(after == 0xCC);  // nothing past p_memsz touched
}

TEST_CASE("a virtual entry point is translated through its segment", "[vmm][boot][elf]") {
  auto mem = guest();
  ElfSpec spec;
  spec.eh.e_entry = kVirtBase + 0x80;
  auto image = load_elf_kernel(mem, spec.build());
  REQUIRE(image.has_value());
  CHECK(image->entry == kLoadAddr + 0x80);

  spec.eh.e_entry = kVirtBase + kMemSize;  // one past the segment
  CHECK(load_error(spec) ==
        "ELF entry point 0xffffffff81003000 is not inside any loadable segment");
}

TEST_CASE("several segments: kernel_end is the highest, overlaps are rejected",
          "[vmm][boot][elf]") {
  ElfSpec spec;
  Elf64_Phdr data = spec.ph[0];
  data.p_paddr = kLoadAddr + 0x200000;
  data.p_vaddr = 0;  // like .data..percpu
  data.p_filesz = 0;
  data.p_memsz = 0x5000;  // BSS only
  spec.ph.push_back(data);
  auto mem = guest();
  auto image = load_elf_kernel(mem, spec.build());
  REQUIRE(image.has_value());
  CHECK(image->kernel_end == kLoadAddr + 0x205000);

  spec.ph[2].p_paddr = kLoadAddr + 0x2000;  // inside segment 0
  CHECK(load_error(spec) == "ELF segments 0 and 2 overlap in guest memory");
}

TEST_CASE("malformed ELF headers are rejected with what was wrong", "[vmm][boot][elf]") {
  CHECK(load_error(std::vector<uint8_t>(10, 0)) ==
        "ELF file is 10 bytes, too small for an ELF header");
  {
    ElfSpec s;
    s.eh.e_ident[EI_MAG1] = 'X';
    CHECK(load_error(s) == "not an ELF file (bad magic)");
  }
  {
    ElfSpec s;
    s.eh.e_ident[EI_CLASS] = ELFCLASS32;
    CHECK(load_error(s) == "ELF class 1 is not ELFCLASS64 (a 32-bit image?)");
  }
  {
    ElfSpec s;
    s.eh.e_ident[EI_DATA] = ELFDATA2MSB;
    CHECK(load_error(s) == "ELF file is not little-endian");
  }
  {
    ElfSpec s;
    s.eh.e_machine = EM_AARCH64;
    CHECK(load_error(s) == "ELF machine 183 is not x86-64 (62)");
  }
  {
    ElfSpec s;
    s.eh.e_type = ET_DYN;
    CHECK(load_error(s) == "ELF type 3 is not an executable (ET_EXEC)");
  }
  {
    ElfSpec s;
    s.eh.e_phentsize = 32;
    CHECK(load_error(s) == "ELF program header size 32 is not 56");
  }
  {
    ElfSpec s;
    s.ph.clear();
    CHECK(load_error(s) == "ELF file has no program headers");
  }
  {
    ElfSpec s;
    s.eh.e_phoff = 0x100000;
    CHECK(load_error(s) ==
          "ELF program header table (offset 0x100000, 2 entries) runs past the end of the file");
  }
  {
    ElfSpec s;
    s.eh.e_phoff = 0xFFFFFFFFFFFFFFF0ULL;  // offset + table size would wrap
    CHECK(load_error(s) == "ELF program header table (offset 0xfffffffffffffff0, 2 entries) "
                           "runs past the end of the file");
  }
  {
    ElfSpec s;
    s.eh.e_phnum = 0xFFFF;  // a table far longer than the file
    CHECK(load_error(s) ==
          "ELF program header table (offset 0x40, 65535 entries) runs past the end of the file");
  }
  {
    ElfSpec s;
    s.eh.e_phoff = 8;
    CHECK(load_error(s) == "ELF program header offset 0x8 overlaps the ELF header");
  }
  {
    ElfSpec s;
    s.eh.e_entry = 0x7C00;
    CHECK(load_error(s) == "ELF entry point 0x7c00 is below 1 MiB");
  }
  {
    ElfSpec s;
    s.ph[0].p_type = PT_DYNAMIC;
    CHECK(load_error(s) == "ELF file has no loadable segments");
  }
}

TEST_CASE("malformed ELF segments are rejected with their index", "[vmm][boot][elf]") {
  {
    ElfSpec s;
    s.ph[0].p_filesz = 0x10000;  // the file has 0x180 bytes there
    s.ph[0].p_memsz = 0x10000;
    CHECK(load_error(s) == "ELF segment 0 runs past the end of the file");
  }
  {
    ElfSpec s;
    s.ph[0].p_offset = 0xFFFFFFFFFFFFFF00ULL;  // offset + filesz wraps to a small number
    CHECK(load_error(s) ==
          "ELF segment 0: file offset 0xffffffffffffff00 + size 0x180 overflows");
  }
  {
    ElfSpec s;
    s.ph[0].p_filesz = 0x4000;
    CHECK(load_error(s) ==
          "ELF segment 0 has a file size (0x4000) larger than its memory size (0x3000)");
  }
  {
    ElfSpec s;
    s.ph[0].p_paddr = 64 * kMiB - 0x1000;  // the guest has 64 MiB
    s.eh.e_entry = s.ph[0].p_paddr;
    CHECK(load_error(s) == "ELF segment 0 (0x3fff000..0x4002000) does not fit in guest memory");
  }
  {
    ElfSpec s;
    s.ph[0].p_paddr = 0xFFFFFFFFFFFFF000ULL;  // paddr + memsz wraps
    s.eh.e_entry = s.ph[0].p_paddr;
    CHECK(load_error(s) ==
          "ELF segment 0: physical address 0xfffffffffffff000 + size 0x3000 overflows");
  }
  {
    ElfSpec s;
    s.ph[0].p_paddr = 0x8000;  // over the boot structures
    CHECK(load_error(s) == "ELF segment 0 loads at 0x8000, below 1 MiB");
  }
  {
    ElfSpec s;
    s.ph[0].p_paddr = kMmioGapStart;  // in the MMIO gap of a 4 GiB guest: not RAM
    s.eh.e_entry = kMmioGapStart;
    auto mem = guest(4 * kGiB);
    auto r = load_elf_kernel(mem, s.build());
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message() ==
          "ELF segment 0 (0xc0000000..0xc0003000) does not fit in guest memory");
  }
}

TEST_CASE("an ELF kernel loads from a file descriptor", "[vmm][boot][elf]") {
  char path[] = "/tmp/nexus-test-vmlinux-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::unlink(path);
  ElfSpec spec;
  auto file = spec.build();
  REQUIRE(::write(fd, file.data(), file.size()) == static_cast<ssize_t>(file.size()));
  auto mem = guest();
  auto image = load_elf_kernel_fd(mem, fd);
  REQUIRE(image.has_value());
  CHECK(image->entry == kLoadAddr + 0x40);
  uint8_t first = 0;
  REQUIRE(mem.read_obj(kLoadAddr, first));
  CHECK(first == spec.payload[0]);

  REQUIRE(::ftruncate(fd, 100) == 0);
  auto truncated = load_elf_kernel_fd(mem, fd);
  REQUIRE_FALSE(truncated.has_value());
  CHECK(truncated.error().message() ==
        "ELF program header table (offset 0x40, 2 entries) runs past the end of the file");
  ::close(fd);
}

TEST_CASE("a real vmlinux loads when one is around (optional)", "[vmm][boot][elf]") {
  const char* path = std::getenv("NEXUS_TEST_VMLINUX");
  if (!path) return;  // e.g. NEXUS_TEST_VMLINUX=/usr/lib/debug/boot/vmlinux-$(uname -r)
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  auto mem = guest(256 * kMiB);
  auto image = load_elf_kernel_fd(mem, fd);
  ::close(fd);
  INFO((image ? std::string() : image.error().message()));
  REQUIRE(image.has_value());
  CHECK(image->entry >= kHimemStart);
  CHECK(image->kernel_end > image->entry);
}
