// SPDX-License-Identifier: Apache-2.0
// Connect error codes, their HTTP statuses and the JSON error bodies.
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace nexus::agent {

enum class ConnectCode {
  canceled,
  unknown,
  invalid_argument,
  deadline_exceeded,
  not_found,
  already_exists,
  permission_denied,
  resource_exhausted,
  failed_precondition,
  aborted,
  out_of_range,
  unimplemented,
  internal,
  unavailable,
  data_loss,
  unauthenticated,
};

struct ConnectError {
  ConnectCode code = ConnectCode::unknown;
  std::string message;
};

/// "invalid_argument", ...
std::string_view connect_code_name(ConnectCode code);
/// The HTTP status of a unary error response with this code.
int connect_http_status(ConnectCode code);
/// Map a project Error (Errc or errno) to a Connect error with the same message.
ConnectError to_connect_error(const Error& error);

/// Body of a unary error response: {"code":"<name>","message":"..."}.
std::string connect_error_json(const ConnectError& error);
/// Payload of the end-of-stream envelope: {} or {"error":{...}}.
std::string end_stream_payload(const ConnectError* error);

}  // namespace nexus::agent
