// SPDX-License-Identifier: Apache-2.0
// `nexus doctor` without nexusd: a host report in the shape of GET /v1/host, made by running
// `nexus-vmm --probe --json` here (only when /dev/kvm can be opened by this user), with the
// host facts of common/host_facts.hpp.
#pragma once

#include <string>

#include "common/json.hpp"

namespace nexus::cli {

/// The report. When /dev/kvm cannot be opened it holds only "system" (host facts) and
/// "root_dir"; `note` says which and why. $NEXUS_ROOT names the state root (/var/lib/nexus).
Json local_host_report(std::string& note);

/// The probe's verdict as GET /v1/host gives it, from its stdout and exit status (0 usable,
/// 1 not, 2 no KVM). Lenient: extra fields are ignored, missing ones fall back to the status.
Json probe_report(const std::string& out, int exit_code, bool ran, const std::string& why_not);

}  // namespace nexus::cli
