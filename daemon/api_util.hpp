// SPDX-License-Identifier: Apache-2.0
// Helpers for answering native API requests: JSON bodies and error mapping (docs/api.md).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/http.hpp"
#include "common/json.hpp"
#include "common/result.hpp"

namespace nexus::daemon {

constexpr size_t kMaxApiBody = 1 * 1024 * 1024;

/// HTTP status and API code for an error.
int http_status_for(const Error& e);
std::string api_code_for(const Error& e);

void reply_json(const std::shared_ptr<http::Exchange>& ex, int status, const Json& body);
void reply_error(const std::shared_ptr<http::Exchange>& ex, const Error& e);
void reply_error(const std::shared_ptr<http::Exchange>& ex, int status, const std::string& code,
                 const std::string& message);

/// The optional "env" field: an object of strings with valid names; {} when absent.
Result<std::map<std::string, std::string>> parse_env_field(const Json& body);
/// An optional integer field: nullopt when absent or null, an error naming it when not an integer.
Result<std::optional<int64_t>> optional_int_field(const Json& body, const char* key);

/// Read and parse a JSON object body (empty body = {}), then call `done`.
void read_json_body(const std::shared_ptr<http::Exchange>& ex,
                    std::function<void(Json)> done);

}  // namespace nexus::daemon
