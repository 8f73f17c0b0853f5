// SPDX-License-Identifier: Apache-2.0
// API reply helpers.
#include "daemon/api_util.hpp"

#include <fmt/format.h>

namespace nexus::daemon {

int http_status_for(const Error& e) {
  if (e.is(Errc::invalid_argument)) return 400;
  if (e.is(Errc::not_found)) return 404;
  if (e.is(Errc::conflict) || e.is(Errc::already_exists)) return 409;
  if (e.is(Errc::too_large)) return 413;
  if (e.is(Errc::unavailable)) return 503;
  if (e.is(Errc::timeout)) return 504;
  if (e.is(Errc::permission_denied)) return 403;
  if (e.is(Errc::unauthenticated)) return 401;
  if (e.is(Errc::protocol)) return 502;  // a registry, agent or monitor answered wrongly
  return 500;
}

std::string api_code_for(const Error& e) {
  if (e.code().category() == nexus_category()) {
    switch (static_cast<Errc>(e.code().value())) {
      case Errc::invalid_argument: return "invalid_argument";
      case Errc::not_found: return "not_found";
      case Errc::already_exists: return "already_exists";
      case Errc::conflict: return "conflict";
      case Errc::too_large: return "too_large";
      case Errc::unavailable: return "unavailable";
      case Errc::timeout: return "deadline_exceeded";
      case Errc::permission_denied: return "permission_denied";
      case Errc::unauthenticated: return "unauthenticated";
      case Errc::protocol: return "bad_gateway";
      default: break;
    }
  }
  return "internal";
}

void reply_json(const std::shared_ptr<http::Exchange>& ex, int status, const Json& body) {
  http::Headers h;
  h.set("Content-Type", "application/json");
  ex->respond(status, std::move(h), dump_json(body) + "\n");
}

void reply_error(const std::shared_ptr<http::Exchange>& ex, int status, const std::string& code,
                 const std::string& message) {
  reply_json(ex, status, Json{{"error", {{"code", code}, {"message", message}}}});
}

void reply_error(const std::shared_ptr<http::Exchange>& ex, const Error& e) {
  reply_error(ex, http_status_for(e), api_code_for(e), e.message());
}

Result<std::map<std::string, std::string>> parse_env_field(const Json& body) {
  std::map<std::string, std::string> env;
  auto it = body.find("env");
  if (it == body.end() || it->is_null()) return env;
  if (!it->is_object()) return fail(Errc::invalid_argument, "field 'env' must be an object of strings");
  for (auto& [k, v] : it->items()) {
    if (!v.is_string()) return fail(Errc::invalid_argument, fmt::format("env '{}' must be a string", k));
    if (k.empty() || k.find('=') != std::string::npos)
      return fail(Errc::invalid_argument, fmt::format("invalid environment variable name '{}'", k));
    env[k] = v.get<std::string>();
  }
  return env;
}

Result<std::optional<int64_t>> optional_int_field(const Json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::optional<int64_t>();
  auto v = json_int(body, key);
  if (!v) return fail(v.error());
  return std::optional<int64_t>(*v);
}

void read_json_body(const std::shared_ptr<http::Exchange>& ex, std::function<void(Json)> done) {
  ex->read_body(kMaxApiBody, [ex, done = std::move(done)](Result<std::string> body) {
    if (!body) {
      if (!ex->responded()) reply_error(ex, body.error());
      return;
    }
    if (body->empty()) return done(Json::object());
    auto j = parse_json(*body);
    if (!j) return reply_error(ex, Error(Errc::invalid_argument, "request body: " + j.error().message()));
    if (!j->is_object()) return reply_error(ex, Error(Errc::invalid_argument, "request body must be a JSON object"));
    done(std::move(*j));
  });
}

}  // namespace nexus::daemon
