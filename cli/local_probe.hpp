// SPDX-License-Identifier: Apache-2.0
// `nexus doctor` without nexusd: a host report in the shape of GET /v1/host, made by running
// `nexus-vmm --probe --json` here. Only tried when /dev/kvm can be opened by this user.
#pragma once

#include <string>

#include "common/json.hpp"

namespace nexus::cli {

/// The report, or null when /dev/kvm cannot be opened; `note` says which and why.
Json local_host_report(std::string& note);

/// The probe's verdict as GET /v1/host gives it, from its stdout and exit status (0 usable,
/// 1 not, 2 no KVM). Lenient: extra fields are ignored, missing ones fall back to the status.
Json probe_report(const std::string& out, int exit_code, bool ran, const std::string& why_not);

}  // namespace nexus::cli
