// SPDX-License-Identifier: Apache-2.0
// Shared pieces of the agent's Connect RPC handlers: request decoding, headers, fields.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/http.hpp"
#include "common/json.hpp"
#include "common/result.hpp"

namespace nexus::agent {

/// A decimal header value; nullopt when absent or malformed.
std::optional<uint64_t> header_number(const http::RequestHead& head, std::string_view name);
/// Keepalive-Ping-Interval (seconds) in milliseconds; 90 s when absent, 0 or absurd.
uint64_t keepalive_interval_ms(const http::RequestHead& head);
/// Connect-Timeout-Ms, capped at a year; nullopt when absent or 0 (no limit).
std::optional<uint64_t> connect_timeout_ms(const http::RequestHead& head);
/// The user name from "Authorization: Basic base64(name:)"; "" when absent.
/// unauthenticated for another scheme or malformed credentials.
Result<std::string> basic_auth_user(const http::RequestHead& head);

/// An optional uint32 field given as a JSON number or a decimal string (protobuf JSON);
/// `def` when absent or null, invalid_argument for anything else.
Result<uint32_t> json_uint32(const Json& obj, const char* key, uint32_t def = 0);

/// Read a Connect request body (unary JSON, or exactly one envelope for a server stream)
/// and parse it as a JSON object. A wrong content type, an oversized body or bad JSON is
/// answered here in the call's error format; `on_request` runs only for a valid object.
void read_rpc_request(std::shared_ptr<http::Exchange> ex, bool streaming,
                      std::function<void(Json)> on_request);

/// A unary success response (HTTP 200, application/json).
void respond_unary(http::Exchange& ex, const Json& message);

}  // namespace nexus::agent
