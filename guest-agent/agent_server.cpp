// SPDX-License-Identifier: Apache-2.0
// Routing: /health, /init, /envs, /files, /process.Process/*, /filesystem.Filesystem/*,
// everything else 404.
#include "guest-agent/agent_server.hpp"

#include <fmt/format.h>

#include "common/strings.hpp"
#include "common/json.hpp"

namespace nexus::agent {

namespace {

constexpr size_t kMaxInitBytes = 1024 * 1024;

bool is_rpc_path(std::string_view path) {
  return starts_with(path, "/process.") || starts_with(path, "/filesystem.");
}

}  // namespace

AgentServer::AgentServer(uv::Loop& loop, AgentState& state, ProcessTable& table)
    : state_(state), processes_(loop, state, table), files_(state),
      filesystem_(loop, state), interpreter_(loop, state) {}

bool AgentServer::authorized(const http::RequestHead& head) const {
  const auto& token = state_.access_token();
  if (token.empty()) return true;
  auto got = head.headers.get("X-Access-Token");
  return got && constant_time_equal(*got, token);
}

bool AgentServer::traffic_authorized(const http::RequestHead& head) const {
  if (authorized(head)) return true;
  const auto& token = state_.traffic_token();
  auto got = head.headers.get("E2B-Traffic-Access-Token");
  return !token.empty() && got && constant_time_equal(*got, token);
}

void AgentServer::handle(std::shared_ptr<http::Exchange> ex) {
  const auto& head = ex->request();
  const std::string& path = head.path;
  const std::string& method = head.method;

  if (path == "/health") {
    if (method != "GET" && method != "HEAD") return respond_rest_error(*ex, 405, "method not allowed");
    http::Headers h;
    h.set("Cache-Control", "no-store");
    return ex->respond(204, std::move(h), {});
  }
  if (path == "/init") {
    if (method != "POST") return respond_rest_error(*ex, 405, "method not allowed");
    return handle_init(std::move(ex));
  }

  // Code interpreter (E2B port 49999): the SDK sends the access token only on /execute, and
  // the traffic token (when the sandbox has one) on every request.
  if (InterpreterService::is_contexts_path(path)) {
    if (!traffic_authorized(head)) return respond_rest_error(*ex, 401, "missing or invalid traffic access token");
    return interpreter_.handle(std::move(ex));
  }

  if (!authorized(head)) {
    if (is_rpc_path(path)) {
      ConnectError e{ConnectCode::unauthenticated, "missing or invalid access token"};
      if (is_connect_stream_request(head)) return respond_stream_error(*ex, e);
      return respond_unary_error(*ex, e);
    }
    return respond_rest_error(*ex, 401, "missing or invalid access token");
  }

  if (InterpreterService::is_execute_path(path)) return interpreter_.handle(std::move(ex));
  if (path == "/envs") {
    if (method != "GET") return respond_rest_error(*ex, 405, "method not allowed");
    Json j = Json::object();
    for (const auto& [k, v] : state_.env_vars()) j[k] = v;
    http::Headers h;
    h.set("Content-Type", "application/json");
    return ex->respond(200, std::move(h), dump_json(j));
  }
  if (path == "/files") {
    if (method == "GET" || method == "HEAD") return files_.download(std::move(ex));
    if (method == "POST") return files_.upload(std::move(ex));
    return respond_rest_error(*ex, 405, "method not allowed");
  }
  if (is_rpc_path(path)) {
    if (method != "POST") {
      return respond_unary_error(
          *ex, ConnectError{ConnectCode::unimplemented, "RPC calls must use POST"}, 405);
    }
    constexpr std::string_view kProcess = "/process.Process/";
    if (starts_with(path, kProcess))
      return processes_.handle(std::string_view(path).substr(kProcess.size()), std::move(ex));
    constexpr std::string_view kFilesystem = "/filesystem.Filesystem/";
    if (starts_with(path, kFilesystem))
      return filesystem_.handle(std::string_view(path).substr(kFilesystem.size()), std::move(ex));
    ConnectError e{ConnectCode::unimplemented, fmt::format("{} is not implemented", path.substr(1))};
    return respond_unary_error(*ex, e, 404);
  }
  respond_rest_error(*ex, 404, "not found");
}

void AgentServer::handle_init(std::shared_ptr<http::Exchange> ex) {
  // Once a token is set, only a caller that knows it may change the settings.
  if (!authorized(ex->request())) return respond_rest_error(*ex, 401, "invalid access token");
  ex->read_body(kMaxInitBytes, [this, ex](Result<std::string> body) {
    if (!body) return;
    auto j = parse_json(body->empty() ? std::string_view("{}") : std::string_view(*body));
    if (!j) return respond_rest_error(*ex, 400, j.error().message());
    if (auto r = state_.apply_init(*j); !r) return respond_rest_error(*ex, 400, r.error().message());
    ex->respond(204, {}, {});
  });
}

}  // namespace nexus::agent
