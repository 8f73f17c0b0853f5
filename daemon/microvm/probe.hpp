// SPDX-License-Identifier: Apache-2.0
// The host probe: `nexus-vmm --probe --json` times a short CPL0 guest loop and says whether
// this host runs guest kernels at hardware speed (docs/vmm.md). nexusd runs it once at
// start-up; `auto` isolation and `nexus doctor` use the cached result.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/json.hpp"

namespace nexus::microvm {

/// Exit statuses of `nexus-vmm --probe`.
inline constexpr int kProbeUsable = 0;
inline constexpr int kProbeEmulated = 1;
inline constexpr int kProbeNoKvm = 2;

struct ProbeResult {
  bool ran = false;     ///< the probe answered (exit 0, 1 or 2, or a JSON verdict)
  bool usable = false;  ///< guest kernel code runs at hardware speed
  bool kvm = false;     ///< /dev/kvm opened and ran a VM
  std::optional<double> ns_per_iteration;    ///< guest loop, per iteration
  std::optional<double> native_ns_estimate;  ///< the same loop on the host
  std::optional<double> slowdown;            ///< guest / native
  int exit_code = -1;
  std::string reason;   ///< one sentence: the verdict, or why the probe could not run
  int64_t duration_ms = 0;
};

/// Read a probe's stdout and exit status. Lenient: unknown fields are ignored, missing ones
/// fall back to the exit status (0 usable, 1 not, 2 no KVM); "usable" needs exit status 0
/// and no JSON saying otherwise. Output that is not JSON is judged by the exit status alone.
ProbeResult parse_probe_output(std::string_view out, int exit_code);

/// Run `vmm_path --probe --json`, killing it after `timeout_ms`. Never fails: a missing
/// binary, a crash or a timeout give ran = false with the reason.
ProbeResult run_probe(const std::string& vmm_path, uint64_t timeout_ms);

/// The reason in the words `auto` and the errors use: for a slow /dev/kvm, "/dev/kvm runs
/// guest kernel code 1180x slower than native (PVM or software emulation)".
std::string probe_verdict(const ProbeResult& p);

/// For GET /v1/host: every field, numbers only when the probe gave them.
Json probe_to_json(const ProbeResult& p);

}  // namespace nexus::microvm
