// SPDX-License-Identifier: Apache-2.0
// Thin RAII wrappers over the KVM API: the system fd, a VM and its vCPUs.
//
// Only what nexus-vmm uses, in the order vmm-notes.md section 2 gives. Every ioctl failure
// comes back as an Error naming the ioctl.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "vmm/guest_memory.hpp"

namespace nexus::vmm {

class Kvm {
 public:
  /// Open /dev/kvm (or `path`) and check the API version and the capabilities we need.
  static Result<Kvm> open(const std::string& path = "/dev/kvm");
  int fd() const { return fd_.get(); }
  int check_extension(long cap) const;
  int vcpu_mmap_size() const { return vcpu_mmap_size_; }
  /// KVM_GET_SUPPORTED_CPUID.
  Result<std::vector<kvm_cpuid_entry2>> supported_cpuid() const;

 private:
  UniqueFd fd_;
  int vcpu_mmap_size_ = 0;
};

class Vcpu {
 public:
  Vcpu(UniqueFd fd, kvm_run* run, size_t run_size, unsigned index);
  ~Vcpu();
  Vcpu(const Vcpu&) = delete;
  Vcpu& operator=(const Vcpu&) = delete;

  int fd() const { return fd_.get(); }
  kvm_run* run() const { return run_; }
  unsigned index() const { return index_; }

  Result<void> set_cpuid(const std::vector<kvm_cpuid_entry2>& entries);
  Result<void> set_msrs(const std::vector<kvm_msr_entry>& msrs);
  Result<kvm_regs> get_regs() const;
  Result<void> set_regs(const kvm_regs& regs);
  Result<kvm_sregs> get_sregs() const;
  Result<void> set_sregs(const kvm_sregs& sregs);
  Result<void> set_fpu(const kvm_fpu& fpu);
  Result<kvm_lapic_state> get_lapic() const;
  Result<void> set_lapic(const kvm_lapic_state& lapic);

 private:
  UniqueFd fd_;
  kvm_run* run_;
  size_t run_size_;
  unsigned index_;
};

class Vm {
 public:
  /// KVM_CREATE_VM (retried on EINTR), TSS address, in-kernel irqchip and PIT.
  static Result<Vm> create(const Kvm& kvm, bool with_irqchip = true);
  int fd() const { return fd_.get(); }

  /// One KVM_SET_USER_MEMORY_REGION per region of `mem`.
  Result<void> map_memory(const GuestMemory& mem);
  Result<std::unique_ptr<Vcpu>> create_vcpu(const Kvm& kvm, unsigned index);
  /// Guest writes of `datamatch` (4 bytes) to MMIO `addr` signal `eventfd` without an exit.
  Result<void> add_ioeventfd(uint64_t addr, uint32_t datamatch, int eventfd);
  /// A write to `eventfd` raises an edge on `gsi`.
  Result<void> add_irqfd(int eventfd, unsigned gsi);

 private:
  UniqueFd fd_;
};

}  // namespace nexus::vmm
