// SPDX-License-Identifier: Apache-2.0
// Shell commands for the network tests (ip, nft, tc, bpftool, dnsmasq): one copy for all of
// tests/net.
#pragma once

#include <string>

namespace nexus::net::testing {

/// A shell command's output (stdout and stderr); its wait status in `status`.
std::string run(const std::string& cmd, int* status = nullptr);
/// Runs a command, printing it and its output when it fails.
bool sh(const std::string& cmd);

}  // namespace nexus::net::testing
