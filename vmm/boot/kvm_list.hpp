// SPDX-License-Identifier: Apache-2.0
// KvmList: a KVM ioctl argument that ends in a flexible array (struct kvm_cpuid2, kvm_msrs),
// held in one aligned allocation with room for a fixed number of entries.
//
//   CpuidList list(entries);                 // nent = entries.size()
//   ioctl(vcpu_fd, KVM_SET_CPUID2, list.get());
//   CpuidList supported(256);                // nent = 256: KVM lowers it
//   ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, supported.get()); auto v = supported.to_vector();
#pragma once

#include <linux/kvm.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace nexus::vmm::boot {

template <class Header, class Entry, uint32_t Header::*Count>
class KvmList {
 public:
  /// Room for `capacity` zeroed entries; the count field says `capacity`.
  explicit KvmList(size_t capacity)
      : capacity_(capacity),
        storage_((sizeof(Header) + capacity * sizeof(Entry) + sizeof(uint64_t) - 1) /
                 sizeof(uint64_t)) {
    get()->*Count = static_cast<uint32_t>(capacity);
  }
  explicit KvmList(std::span<const Entry> entries) : KvmList(entries.size()) {
    if (!entries.empty()) std::memcpy(data(), entries.data(), entries.size_bytes());
  }

  Header* get() noexcept { return reinterpret_cast<Header*>(storage_.data()); }
  const Header* get() const noexcept { return reinterpret_cast<const Header*>(storage_.data()); }
  size_t capacity() const noexcept { return capacity_; }
  /// The count field (after a GET ioctl: how many entries KVM filled), at most capacity().
  size_t size() const noexcept { return std::min<size_t>(get()->*Count, capacity_); }
  Entry* data() noexcept {
    return reinterpret_cast<Entry*>(reinterpret_cast<unsigned char*>(storage_.data()) +
                                    sizeof(Header));
  }
  const Entry* data() const noexcept {
    return reinterpret_cast<const Entry*>(reinterpret_cast<const unsigned char*>(storage_.data()) +
                                          sizeof(Header));
  }
  std::vector<Entry> to_vector() const { return {data(), data() + size()}; }

 private:
  size_t capacity_;
  std::vector<uint64_t> storage_;  // uint64_t: the entries' alignment
};

static_assert(offsetof(kvm_cpuid2, entries) == sizeof(kvm_cpuid2));
static_assert(offsetof(kvm_msrs, entries) == sizeof(kvm_msrs));

using CpuidList = KvmList<kvm_cpuid2, kvm_cpuid_entry2, &kvm_cpuid2::nent>;
using MsrList = KvmList<kvm_msrs, kvm_msr_entry, &kvm_msrs::nmsrs>;

}  // namespace nexus::vmm::boot
