// SPDX-License-Identifier: Apache-2.0
// Connect error codes and bodies.
#include "guest-agent/connect_error.hpp"

#include <cerrno>

#include "common/json.hpp"

namespace nexus::agent {

std::string_view connect_code_name(ConnectCode code) {
  switch (code) {
    case ConnectCode::canceled: return "canceled";
    case ConnectCode::unknown: return "unknown";
    case ConnectCode::invalid_argument: return "invalid_argument";
    case ConnectCode::deadline_exceeded: return "deadline_exceeded";
    case ConnectCode::not_found: return "not_found";
    case ConnectCode::already_exists: return "already_exists";
    case ConnectCode::permission_denied: return "permission_denied";
    case ConnectCode::resource_exhausted: return "resource_exhausted";
    case ConnectCode::failed_precondition: return "failed_precondition";
    case ConnectCode::aborted: return "aborted";
    case ConnectCode::out_of_range: return "out_of_range";
    case ConnectCode::unimplemented: return "unimplemented";
    case ConnectCode::internal: return "internal";
    case ConnectCode::unavailable: return "unavailable";
    case ConnectCode::data_loss: return "data_loss";
    case ConnectCode::unauthenticated: return "unauthenticated";
  }
  return "unknown";
}

int connect_http_status(ConnectCode code) {
  switch (code) {
    case ConnectCode::canceled: return 499;
    case ConnectCode::unknown: return 500;
    case ConnectCode::invalid_argument: return 400;
    case ConnectCode::deadline_exceeded: return 504;
    case ConnectCode::not_found: return 404;
    case ConnectCode::already_exists: return 409;
    case ConnectCode::permission_denied: return 403;
    case ConnectCode::resource_exhausted: return 429;
    case ConnectCode::failed_precondition: return 400;
    case ConnectCode::aborted: return 409;
    case ConnectCode::out_of_range: return 400;
    case ConnectCode::unimplemented: return 501;
    case ConnectCode::internal: return 500;
    case ConnectCode::unavailable: return 503;
    case ConnectCode::data_loss: return 500;
    case ConnectCode::unauthenticated: return 401;
  }
  return 500;
}

static ConnectCode code_for_errno(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR: return ConnectCode::not_found;
    case EEXIST: return ConnectCode::already_exists;
    case EACCES:
    case EPERM: return ConnectCode::permission_denied;
    case ENOSPC:
    case EDQUOT: return ConnectCode::resource_exhausted;
    case EINVAL:
    case EISDIR:
    case ENAMETOOLONG: return ConnectCode::invalid_argument;
    default: return ConnectCode::internal;
  }
}

static ConnectCode code_for_errc(Errc e) {
  switch (e) {
    case Errc::invalid_argument: return ConnectCode::invalid_argument;
    case Errc::not_found: return ConnectCode::not_found;
    case Errc::already_exists: return ConnectCode::already_exists;
    case Errc::conflict: return ConnectCode::failed_precondition;
    case Errc::timeout: return ConnectCode::deadline_exceeded;
    case Errc::protocol: return ConnectCode::invalid_argument;
    case Errc::too_large: return ConnectCode::resource_exhausted;
    case Errc::unavailable: return ConnectCode::unavailable;
    case Errc::permission_denied: return ConnectCode::permission_denied;
    case Errc::unauthenticated: return ConnectCode::unauthenticated;
    case Errc::ok:
    case Errc::internal: return ConnectCode::internal;
  }
  return ConnectCode::internal;
}

ConnectError to_connect_error(const Error& error) {
  ConnectCode code = ConnectCode::internal;
  if (error.code().category() == nexus_category())
    code = code_for_errc(static_cast<Errc>(error.code().value()));
  else if (error.errno_value() != 0)
    code = code_for_errno(error.errno_value());
  return ConnectError{code, error.message()};
}

std::string connect_error_json(const ConnectError& error) {
  Json j = {{"code", connect_code_name(error.code)}, {"message", error.message}};
  return dump_json(j);
}

std::string end_stream_payload(const ConnectError* error) {
  if (!error) return "{}";
  Json j = {{"error", {{"code", connect_code_name(error->code)}, {"message", error->message}}}};
  return dump_json(j);
}

}  // namespace nexus::agent
