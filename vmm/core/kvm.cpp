// SPDX-License-Identifier: Apache-2.0
#include "vmm/core/kvm.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

namespace nexus::vmm {
namespace {

constexpr uint64_t kTssAddress = 0xFFFBD000;

// The C layout of the KVM structs that end in a flexible array. In C++ the uapi headers'
// __DECLARE_FLEX_ARRAY adds an empty struct (1 byte, padded to 4), so sizeof(kvm_cpuid2) is
// 12 instead of 8: both the ioctl numbers derived from it and the offset of `entries` are
// wrong. Spell the C ABI out here instead.
struct CpuidHeader {
  uint32_t nent;
  uint32_t padding;
};
struct MsrsHeader {
  uint32_t nmsrs;
  uint32_t pad;
};
static_assert(sizeof(CpuidHeader) == 8 && sizeof(MsrsHeader) == 8);
constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);
constexpr unsigned long kSetMsrs = _IOW(KVMIO, 0x89, MsrsHeader);

template <class Header, class Entry>
std::vector<uint8_t> list_buffer(size_t n) {
  return std::vector<uint8_t>(sizeof(Header) + n * sizeof(Entry));
}

// Capabilities the VMM relies on (vmm-notes.md section 2, step 1).
struct Cap {
  long cap;
  const char* name;
};
constexpr Cap kRequiredCaps[] = {
    {KVM_CAP_IRQCHIP, "IRQCHIP"},         {KVM_CAP_IOEVENTFD, "IOEVENTFD"},
    {KVM_CAP_IRQFD, "IRQFD"},             {KVM_CAP_USER_MEMORY, "USER_MEMORY"},
    {KVM_CAP_SET_TSS_ADDR, "SET_TSS_ADDR"}, {KVM_CAP_PIT2, "PIT2"},
    {KVM_CAP_EXT_CPUID, "EXT_CPUID"},     {KVM_CAP_IMMEDIATE_EXIT, "IMMEDIATE_EXIT"},
};

template <class... A>
Result<int> xioctl(int fd, unsigned long req, const char* name, A... args) {
  int r;
  do r = ::ioctl(fd, req, args...);
  while (r < 0 && errno == EINTR);
  if (r < 0) return fail_errno(name);
  return r;
}

}  // namespace

Result<Kvm> Kvm::open(const std::string& path) {
  Kvm k;
  k.fd_.reset(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!k.fd_) return fail_errno("opening " + path);
  int version = ::ioctl(k.fd_.get(), KVM_GET_API_VERSION, 0);
  if (version != KVM_API_VERSION)
    return fail(Errc::unavailable, fmt::format("{}: KVM API version {}, need {}", path, version,
                                               KVM_API_VERSION));
  for (const auto& c : kRequiredCaps)
    if (k.check_extension(c.cap) <= 0)
      return fail(Errc::unavailable, fmt::format("{}: KVM lacks KVM_CAP_{}", path, c.name));
  k.vcpu_mmap_size_ = ::ioctl(k.fd_.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
  if (k.vcpu_mmap_size_ < static_cast<int>(sizeof(kvm_run)))
    return fail(Errc::unavailable, "KVM_GET_VCPU_MMAP_SIZE failed");
  return k;
}

int Kvm::check_extension(long cap) const { return ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap); }

Result<std::vector<kvm_cpuid_entry2>> Kvm::supported_cpuid() const {
  constexpr size_t kMax = 256;
  auto buf = list_buffer<CpuidHeader, kvm_cpuid_entry2>(kMax);
  auto* c = reinterpret_cast<CpuidHeader*>(buf.data());
  c->nent = kMax;
  if (auto r = xioctl(fd_.get(), kGetSupportedCpuid, "KVM_GET_SUPPORTED_CPUID", c); !r)
    return fail(r.error());
  std::vector<kvm_cpuid_entry2> out(std::min<size_t>(c->nent, kMax));
  std::memcpy(out.data(), buf.data() + sizeof(CpuidHeader), out.size() * sizeof(kvm_cpuid_entry2));
  return out;
}

Vcpu::Vcpu(UniqueFd fd, kvm_run* run, size_t run_size, unsigned index)
    : fd_(std::move(fd)), run_(run), run_size_(run_size), index_(index) {}

Vcpu::~Vcpu() {
  if (run_) ::munmap(run_, run_size_);
}

Result<void> Vcpu::set_cpuid(const std::vector<kvm_cpuid_entry2>& entries) {
  auto buf = list_buffer<CpuidHeader, kvm_cpuid_entry2>(entries.size());
  reinterpret_cast<CpuidHeader*>(buf.data())->nent = static_cast<uint32_t>(entries.size());
  std::memcpy(buf.data() + sizeof(CpuidHeader), entries.data(),
              entries.size() * sizeof(kvm_cpuid_entry2));
  if (auto r = xioctl(fd_.get(), kSetCpuid2, "KVM_SET_CPUID2", buf.data()); !r)
    return fail(r.error());
  return {};
}

Result<void> Vcpu::set_msrs(const std::vector<kvm_msr_entry>& msrs) {
  auto buf = list_buffer<MsrsHeader, kvm_msr_entry>(msrs.size());
  reinterpret_cast<MsrsHeader*>(buf.data())->nmsrs = static_cast<uint32_t>(msrs.size());
  std::memcpy(buf.data() + sizeof(MsrsHeader), msrs.data(), msrs.size() * sizeof(kvm_msr_entry));
  auto r = xioctl(fd_.get(), kSetMsrs, "KVM_SET_MSRS", buf.data());
  if (!r) return fail(r.error());
  if (static_cast<size_t>(*r) != msrs.size())
    return fail(Errc::unavailable, fmt::format("KVM_SET_MSRS: KVM refused MSR {:#x}",
                                               msrs[static_cast<size_t>(*r)].index));
  return {};
}

Result<kvm_regs> Vcpu::get_regs() const {
  kvm_regs r{};
  if (auto e = xioctl(fd_.get(), KVM_GET_REGS, "KVM_GET_REGS", &r); !e) return fail(e.error());
  return r;
}
Result<void> Vcpu::set_regs(const kvm_regs& regs) {
  if (auto e = xioctl(fd_.get(), KVM_SET_REGS, "KVM_SET_REGS", &regs); !e) return fail(e.error());
  return {};
}
Result<kvm_sregs> Vcpu::get_sregs() const {
  kvm_sregs s{};
  if (auto e = xioctl(fd_.get(), KVM_GET_SREGS, "KVM_GET_SREGS", &s); !e) return fail(e.error());
  return s;
}
Result<void> Vcpu::set_sregs(const kvm_sregs& sregs) {
  if (auto e = xioctl(fd_.get(), KVM_SET_SREGS, "KVM_SET_SREGS", &sregs); !e) return fail(e.error());
  return {};
}
Result<void> Vcpu::set_fpu(const kvm_fpu& fpu) {
  if (auto e = xioctl(fd_.get(), KVM_SET_FPU, "KVM_SET_FPU", &fpu); !e) return fail(e.error());
  return {};
}
Result<kvm_lapic_state> Vcpu::get_lapic() const {
  kvm_lapic_state l{};
  if (auto e = xioctl(fd_.get(), KVM_GET_LAPIC, "KVM_GET_LAPIC", &l); !e) return fail(e.error());
  return l;
}
Result<void> Vcpu::set_lapic(const kvm_lapic_state& lapic) {
  if (auto e = xioctl(fd_.get(), KVM_SET_LAPIC, "KVM_SET_LAPIC", &lapic); !e) return fail(e.error());
  return {};
}

Result<Vm> Vm::create(const Kvm& kvm, bool with_irqchip) {
  Vm vm;
  // KVM_CREATE_VM can fail with EINTR on a busy host; xioctl retries it.
  auto fd = xioctl(kvm.fd(), KVM_CREATE_VM, "KVM_CREATE_VM", 0);
  if (!fd) return fail(fd.error());
  vm.fd_.reset(*fd);
  if (auto r = xioctl(vm.fd(), KVM_SET_TSS_ADDR, "KVM_SET_TSS_ADDR", kTssAddress); !r)
    return fail(r.error());
  if (with_irqchip) {
    if (auto r = xioctl(vm.fd(), KVM_CREATE_IRQCHIP, "KVM_CREATE_IRQCHIP", 0); !r)
      return fail(r.error());
    kvm_pit_config pit{};
    pit.flags = KVM_PIT_SPEAKER_DUMMY;
    if (auto r = xioctl(vm.fd(), KVM_CREATE_PIT2, "KVM_CREATE_PIT2", &pit); !r)
      return fail(r.error());
  }
  return vm;
}

Result<void> Vm::map_memory(const GuestMemory& mem) {
  uint32_t slot = 0;
  for (const auto& r : mem.regions()) {
    kvm_userspace_memory_region region{};
    region.slot = slot++;
    region.guest_phys_addr = r.gpa;
    region.memory_size = r.size;
    region.userspace_addr = reinterpret_cast<uint64_t>(r.host);
    if (auto e = xioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, "KVM_SET_USER_MEMORY_REGION",
                        &region);
        !e)
      return fail(e.error());
  }
  return {};
}

Result<std::unique_ptr<Vcpu>> Vm::create_vcpu(const Kvm& kvm, unsigned index) {
  auto fd = xioctl(fd_.get(), KVM_CREATE_VCPU, "KVM_CREATE_VCPU", static_cast<unsigned long>(index));
  if (!fd) return fail(fd.error());
  UniqueFd vfd(*fd);
  size_t size = static_cast<size_t>(kvm.vcpu_mmap_size());
  void* run = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, vfd.get(), 0);
  if (run == MAP_FAILED) return fail_errno("mapping kvm_run");
  return std::make_unique<Vcpu>(std::move(vfd), static_cast<kvm_run*>(run), size, index);
}

Result<void> Vm::add_ioeventfd(uint64_t addr, uint32_t datamatch, int eventfd) {
  kvm_ioeventfd io{};
  io.addr = addr;
  io.len = 4;
  io.datamatch = datamatch;
  io.fd = eventfd;
  io.flags = KVM_IOEVENTFD_FLAG_DATAMATCH;
  if (auto e = xioctl(fd_.get(), KVM_IOEVENTFD, "KVM_IOEVENTFD", &io); !e) return fail(e.error());
  return {};
}

Result<void> Vm::add_irqfd(int eventfd, unsigned gsi) {
  kvm_irqfd irq{};
  irq.fd = static_cast<uint32_t>(eventfd);
  irq.gsi = gsi;
  if (auto e = xioctl(fd_.get(), KVM_IRQFD, "KVM_IRQFD", &irq); !e) return fail(e.error());
  return {};
}

}  // namespace nexus::vmm
