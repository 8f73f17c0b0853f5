// SPDX-License-Identifier: Apache-2.0
// vmlinux loading: header checks, PT_LOAD copies and BSS zeroing, entry translation.
#include "vmm/boot/elf_loader.hpp"

#include <elf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "vmm/boot/layout.hpp"

namespace nexus::vmm::boot {
namespace {

struct Segment {
  size_t index;  // position in the program header table, for messages
  Elf64_Phdr ph;
};

Error elf_error(std::string message) { return Error(Errc::invalid_argument, std::move(message)); }

Result<void> check_header(const Elf64_Ehdr& eh, uint64_t file_size) {
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
    return fail(elf_error("not an ELF file (bad magic)"));
  if (eh.e_ident[EI_CLASS] != ELFCLASS64)
    return fail(elf_error(fmt::format("ELF class {} is not ELFCLASS64 (a 32-bit image?)",
                                      eh.e_ident[EI_CLASS])));
  if (eh.e_ident[EI_DATA] != ELFDATA2LSB)
    return fail(elf_error("ELF file is not little-endian"));
  if (eh.e_machine != EM_X86_64)
    return fail(elf_error(fmt::format("ELF machine {} is not x86-64 ({})", eh.e_machine,
                                      EM_X86_64)));
  if (eh.e_type != ET_EXEC)
    return fail(elf_error(fmt::format("ELF type {} is not an executable (ET_EXEC)", eh.e_type)));
  if (eh.e_phentsize != sizeof(Elf64_Phdr))
    return fail(elf_error(fmt::format("ELF program header size {} is not {}", eh.e_phentsize,
                                      sizeof(Elf64_Phdr))));
  if (eh.e_phnum == 0) return fail(elf_error("ELF file has no program headers"));
  if (eh.e_phoff < sizeof(Elf64_Ehdr))
    return fail(elf_error(fmt::format("ELF program header offset {:#x} overlaps the ELF header",
                                      eh.e_phoff)));
  uint64_t table_size = uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr);
  if (eh.e_phoff > file_size || table_size > file_size - eh.e_phoff)
    return fail(elf_error(fmt::format(
        "ELF program header table (offset {:#x}, {} entries) runs past the end of the file",
        eh.e_phoff, eh.e_phnum)));
  if (eh.e_entry < kHimemStart)
    return fail(elf_error(fmt::format("ELF entry point {:#x} is below 1 MiB", eh.e_entry)));
  return {};
}

Result<void> check_segment(const GuestMemory& mem, const Segment& s, uint64_t file_size) {
  const Elf64_Phdr& ph = s.ph;
  if (ph.p_filesz > ph.p_memsz)
    return fail(elf_error(fmt::format(
        "ELF segment {} has a file size ({:#x}) larger than its memory size ({:#x})", s.index,
        ph.p_filesz, ph.p_memsz)));
  if (ph.p_filesz != 0) {
    if (ph.p_offset + ph.p_filesz < ph.p_offset)
      return fail(elf_error(fmt::format("ELF segment {}: file offset {:#x} + size {:#x} overflows",
                                        s.index, ph.p_offset, ph.p_filesz)));
    if (ph.p_offset + ph.p_filesz > file_size)
      return fail(elf_error(
          fmt::format("ELF segment {} runs past the end of the file", s.index)));
  }
  if (ph.p_paddr < kHimemStart)
    return fail(elf_error(
        fmt::format("ELF segment {} loads at {:#x}, below 1 MiB", s.index, ph.p_paddr)));
  if (ph.p_paddr + ph.p_memsz < ph.p_paddr)
    return fail(elf_error(
        fmt::format("ELF segment {}: physical address {:#x} + size {:#x} overflows", s.index,
                    ph.p_paddr, ph.p_memsz)));
  if (!mem.contains(ph.p_paddr, ph.p_memsz))
    return fail(elf_error(fmt::format("ELF segment {} ({:#x}..{:#x}) does not fit in guest memory",
                                      s.index, ph.p_paddr, ph.p_paddr + ph.p_memsz)));
  return {};
}

/// The physical entry: e_entry itself when a segment loads there, else e_entry read as a
/// virtual address and translated through the segment that maps it.
Result<uint64_t> physical_entry(uint64_t e_entry, const std::vector<Segment>& segs) {
  for (const auto& s : segs)
    if (e_entry >= s.ph.p_paddr && e_entry - s.ph.p_paddr < s.ph.p_memsz) return e_entry;
  for (const auto& s : segs)
    if (e_entry >= s.ph.p_vaddr && e_entry - s.ph.p_vaddr < s.ph.p_memsz)
      return e_entry - s.ph.p_vaddr + s.ph.p_paddr;
  return fail(elf_error(
      fmt::format("ELF entry point {:#x} is not inside any loadable segment", e_entry)));
}

/// The loader over any byte source: read_at(offset, dst, len) -> Result<void>; the range is
/// always inside [0, file_size).
template <class ReadAt>
Result<KernelImage> load(const GuestMemory& mem, uint64_t file_size, ReadAt&& read_at) {
  if (file_size < sizeof(Elf64_Ehdr))
    return fail(elf_error(
        fmt::format("ELF file is {} bytes, too small for an ELF header", file_size)));
  Elf64_Ehdr eh;
  NEXUS_TRY(read_at(0, reinterpret_cast<uint8_t*>(&eh), sizeof eh));
  NEXUS_TRY(check_header(eh, file_size));

  std::vector<Elf64_Phdr> phdrs(eh.e_phnum);
  NEXUS_TRY(read_at(eh.e_phoff, reinterpret_cast<uint8_t*>(phdrs.data()),
                    phdrs.size() * sizeof(Elf64_Phdr)));
  std::vector<Segment> segs;
  for (size_t i = 0; i < phdrs.size(); ++i) {
    if (phdrs[i].p_type != PT_LOAD || phdrs[i].p_memsz == 0) continue;
    Segment s{i, phdrs[i]};
    NEXUS_TRY(check_segment(mem, s, file_size));
    segs.push_back(s);
  }
  if (segs.empty()) return fail(elf_error("ELF file has no loadable segments"));

  std::vector<Segment> by_addr = segs;
  std::sort(by_addr.begin(), by_addr.end(),
            [](const Segment& a, const Segment& b) { return a.ph.p_paddr < b.ph.p_paddr; });
  for (size_t i = 1; i < by_addr.size(); ++i) {
    const auto& prev = by_addr[i - 1];
    const auto& cur = by_addr[i];
    if (cur.ph.p_paddr < prev.ph.p_paddr + prev.ph.p_memsz)
      return fail(elf_error(fmt::format("ELF segments {} and {} overlap in guest memory",
                                        std::min(prev.index, cur.index),
                                        std::max(prev.index, cur.index))));
  }

  auto entry = physical_entry(eh.e_entry, segs);
  if (!entry) return fail(std::move(entry).error());

  KernelImage image{*entry, 0};
  for (const auto& s : segs) {
    // check_segment proved [p_paddr, p_paddr + p_memsz) lies inside one region.
    uint8_t* dst = mem.ptr(s.ph.p_paddr, s.ph.p_memsz);
    if (s.ph.p_filesz != 0) {
      auto r = read_at(s.ph.p_offset, dst, s.ph.p_filesz);
      if (!r)
        return fail(std::move(r.error()).wrap(fmt::format("loading ELF segment {}", s.index)));
    }
    std::memset(dst + s.ph.p_filesz, 0, s.ph.p_memsz - s.ph.p_filesz);  // BSS
    image.kernel_end = std::max(image.kernel_end, s.ph.p_paddr + s.ph.p_memsz);
  }
  return image;
}

}  // namespace

Result<KernelImage> load_elf_kernel(const GuestMemory& mem, std::span<const uint8_t> file) {
  return load(mem, file.size(), [&](uint64_t off, uint8_t* dst, size_t len) -> Result<void> {
    if (len) std::memcpy(dst, file.data() + off, len);
    return {};
  });
}

Result<KernelImage> load_elf_kernel_fd(const GuestMemory& mem, int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail_errno("reading the kernel image");
  if (!S_ISREG(st.st_mode)) return fail(elf_error("the kernel image is not a regular file"));
  return load(mem, static_cast<uint64_t>(st.st_size),
              [fd](uint64_t off, uint8_t* dst, size_t len) -> Result<void> {
                while (len > 0) {
                  ssize_t n = ::pread(fd, dst, len, static_cast<off_t>(off));
                  if (n < 0 && errno == EINTR) continue;
                  if (n < 0) return fail_errno("reading the kernel image");
                  if (n == 0)
                    return fail(Errc::internal, "the kernel image shrank while it was read");
                  dst += n;
                  off += static_cast<uint64_t>(n);
                  len -= static_cast<size_t>(n);
                }
                return {};
              });
}

}  // namespace nexus::vmm::boot
