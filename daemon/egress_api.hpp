// SPDX-License-Identifier: Apache-2.0
// The native API of the egress gateway (docs/api.md "Egress gateway"): /v1/egress/policies
// (the global domain lists and header rules), /v1/egress/audit and /v1/egress/stats.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/http.hpp"
#include "daemon/auth.hpp"
#include "daemon/sandbox_manager.hpp"

namespace nexus::daemon {

void handle_egress(SandboxManager& mgr, const Principal& who, const std::vector<std::string>& parts,
                   std::shared_ptr<http::Exchange> ex);

}  // namespace nexus::daemon
