// SPDX-License-Identifier: Apache-2.0
// The host probe behind `nexus-vmm --probe` and the daemon's `auto` isolation: run a short
// loop of guest instructions at CPL0 in a throwaway VM and time it against the same loop in
// host user space. Hardware virtualization runs it at about native speed; PVM hosts and
// software emulation run guest kernel code hundreds of times slower, and then microVMs are
// not worth running (DESIGN.md section 6).
#pragma once

#include <string>

#include "common/json.hpp"

namespace nexus::vmm {

struct ProbeResult {
  bool kvm = false;      ///< /dev/kvm opened and a VM ran
  bool usable = false;   ///< guest CPL0 code runs at hardware speed
  double guest_ns_per_iteration = 0;
  double native_ns_per_iteration = 0;
  double slowdown = 0;   ///< guest / native
  unsigned long iterations = 0;
  std::string reason;    ///< one sentence a user can act on
};

/// Guest code slower than native by more than this is "emulated".
inline constexpr double kMaxSlowdown = 10.0;

ProbeResult probe_kvm(const std::string& kvm_path = "/dev/kvm");
Json probe_json(const ProbeResult& r);

}  // namespace nexus::vmm
