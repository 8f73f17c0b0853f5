// SPDX-License-Identifier: Apache-2.0
// The VMM's control socket (docs/vmm.md): one JSON request line, one JSON reply line.
// Blocking, bounded by a timeout; nexusd calls it from its loop for short operations
// (pause, resume, stop, status).
#pragma once

#include <cstdint>
#include <string>

#include "common/json.hpp"
#include "common/result.hpp"

namespace nexus::microvm {

/// The longest reply line read.
inline constexpr size_t kMaxControlReply = 64 * 1024;

/// Send `request` to the control socket at `path` and return the reply object when it says
/// {"ok": true}. {"ok": false, "error": "..."} is Errc::conflict with the VMM's message;
/// no socket (the VMM is gone) Errc::unavailable; no reply within `timeout_ms`
/// Errc::timeout; a malformed reply Errc::protocol.
Result<Json> control_request(const std::string& path, const Json& request, uint64_t timeout_ms);

}  // namespace nexus::microvm
