// SPDX-License-Identifier: Apache-2.0
// The native API of sandbox networks (docs/api.md "Network policy"): the `network` field of a
// create, and /v1/sandboxes/{id}/netpolicy[/rules[/{rule}]|/stats].
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/http.hpp"
#include "common/json.hpp"
#include "daemon/network_settings.hpp"
#include "daemon/sandbox_manager.hpp"

namespace nexus::daemon {

/// A create's or a PUT's `network`: "none", or {"allow_out": [...], "deny_out": [...],
/// "rules": [...], "default_deny": bool, "allow_public_traffic": bool}; absent: the defaults.
/// Errc::invalid_argument naming the field.
Result<NetworkSettings> parse_network_field(const Json& body);

/// /v1/sandboxes/{id}/netpolicy...: parts[4] == "netpolicy". The caller checked that the
/// sandbox is visible to the requester.
void handle_netpolicy(SandboxManager& mgr, const std::string& id, const std::vector<std::string>& parts,
                      std::shared_ptr<http::Exchange> ex);

}  // namespace nexus::daemon
