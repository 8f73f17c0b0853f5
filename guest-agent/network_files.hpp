// SPDX-License-Identifier: Apache-2.0
// The sandbox's network files, written from /init's Nexus-only "network" field: resolv.conf
// pointing at the sandbox's gateway (nexusd's DNS forwarder), and the egress gateway's CA in
// the trust store (only when nexusd injects credentials over HTTPS for some host).
#pragma once

#include <string>
#include <vector>

#include "common/json.hpp"
#include "common/result.hpp"

namespace nexus::agent {

struct NetworkFiles {
  std::vector<std::string> nameservers;  ///< IPv4/IPv6 literals
  std::string ca_pem;                    ///< one PEM certificate, or empty
};

/// {"nameservers": ["10.88.0.1"], "caCertificate": "-----BEGIN CERTIFICATE-----..."}; every
/// field optional. Errc::invalid_argument naming the field.
Result<NetworkFiles> network_files_from_json(const Json& j);

/// Replaces <etc_dir>/resolv.conf (atomically: a temporary file renamed over it, so a symlink
/// there is replaced, not followed) and, with a CA, writes
/// <etc_dir>/../usr/local/share/ca-certificates/nexus-egress.crt and appends it to
/// <etc_dir>/ssl/certs/ca-certificates.crt when that bundle exists and lacks it.
Result<void> write_network_files(const std::string& etc_dir, const NetworkFiles& files);

}  // namespace nexus::agent
