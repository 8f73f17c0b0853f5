// SPDX-License-Identifier: Apache-2.0
// The E2B control plane's JSON shapes (e2b-protocol.md part A) and its request decoding.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/http.hpp"
#include "common/json.hpp"
#include "common/result.hpp"
#include "daemon/sandbox_record.hpp"

namespace nexus::daemon::e2b {

/// The envd version nexus-agent implements (every gate of e2b-protocol.md B.7 is open).
constexpr std::string_view kEnvdVersion = "0.6.13";
/// What the SDK reports as the client's id.
constexpr std::string_view kClientId = "nexus";

/// `Sandbox` (create/connect answer); `domain` null when empty.
Json sandbox_json(const SandboxRecord& r, const std::string& domain = {});
/// `ListedSandbox`.
Json listed_json(const SandboxRecord& r);
/// `SandboxDetail` (getInfo).
Json detail_json(const SandboxRecord& r, const std::string& domain = {});
/// One `SandboxMetric` sample.
Json metric_json(int64_t now_ms, int cpus, uint64_t mem_used, uint64_t mem_total, double cpu_pct);

/// The E2B state name: "running" or "paused" (others are not listed).
std::string_view e2b_state(SandboxState s);

/// Decode the list call's three-layer metadata filter (A.5). The value given is the query
/// parameter after normal query decoding. invalid_argument for malformed escapes.
Result<std::map<std::string, std::string>> decode_metadata_filter(std::string_view value);

/// A map of strings from `body[key]` (absent/null: empty); invalid_argument naming the key.
Result<std::map<std::string, std::string>> string_map_field(const Json& body, const char* key);

/// {"code": status, "message": ...} with that HTTP status.
void reply_error(const std::shared_ptr<http::Exchange>& ex, int status, std::string_view message);
/// Map a Nexus error to the E2B status and reply.
void reply_error(const std::shared_ptr<http::Exchange>& ex, const Error& e);
void reply_json(const std::shared_ptr<http::Exchange>& ex, int status, const Json& body,
                http::Headers headers = {});
void reply_no_content(const std::shared_ptr<http::Exchange>& ex);

}  // namespace nexus::daemon::e2b
