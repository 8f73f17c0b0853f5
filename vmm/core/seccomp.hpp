// SPDX-License-Identifier: Apache-2.0
// Per-thread seccomp filters of nexus-vmm (vmm-notes.md section 5): a vCPU thread may run
// KVM_RUN and little else; the event thread does device I/O on fds it already holds. Both
// are installed on the calling thread only, after the jail and before guest code runs.
// A forbidden syscall traps: the VMM names it on stderr and exits with status 1.
#pragma once

#include "common/result.hpp"

namespace nexus::vmm {

Result<void> install_vcpu_filter();
Result<void> install_event_filter();

}  // namespace nexus::vmm
