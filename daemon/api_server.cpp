// SPDX-License-Identifier: Apache-2.0
// Native API routing.
#include "daemon/api_server.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/host_facts.hpp"
#include "common/log.hpp"
#include "common/strings.hpp"
#include "daemon/api_util.hpp"
#include "daemon/auth.hpp"
#include "daemon/command_api.hpp"
#include "daemon/egress_api.hpp"
#include "daemon/network_api.hpp"
#include "nexus_config.h"

namespace nexus::daemon {
namespace {

constexpr const char* kLog = "daemon.api";

Principal principal_of(const http::Exchange& ex) {
  auto peer = ex.peer();
  if (!peer) return Principal{"nobody", false};
  return principal_for_uid(peer->uid);
}

void method_not_allowed(const std::shared_ptr<http::Exchange>& ex) {
  reply_error(ex, 405, "method_not_allowed",
              fmt::format("method {} not allowed on {}", ex->request().method, ex->request().path));
}

/// Extract the fields; SandboxManager::create validates their values.
Result<CreateRequest> parse_create(const Json& body) {
  CreateRequest req;
  auto name = json_string(body, "name");
  auto tpl = json_string(body, "template");
  auto ttl = optional_int_field(body, "ttl_seconds");
  auto cpus = optional_int_field(body, "cpus");
  auto mem = optional_int_field(body, "memory_mib");
  auto env = parse_env_field(body);
  auto isolation = json_string(body, "isolation");
  for (auto* e : {name ? nullptr : &name.error(), tpl ? nullptr : &tpl.error(), ttl ? nullptr : &ttl.error(),
                  cpus ? nullptr : &cpus.error(), mem ? nullptr : &mem.error(), env ? nullptr : &env.error(),
                  isolation ? nullptr : &isolation.error()})
    if (e) return fail(*e);
  req.isolation = std::move(*isolation);
  req.name = std::move(*name);
  req.template_name = std::move(*tpl);
  req.ttl_seconds = *ttl;
  req.cpus = *cpus;
  req.memory_mib = *mem;
  req.env = std::move(*env);
  auto network = parse_network_field(body);
  if (!network) return fail(network.error());
  req.network = std::move(*network);
  return req;
}

}  // namespace

ApiServer::ApiServer(uv::Loop& loop, SandboxManager& mgr, TemplateService& templates, KeyService& keys,
                     ImageService& images)
    : mgr_(mgr), templates_(templates), images_(images), keys_(keys),
      server_(loop, http::ServerOptions{}, [this](std::shared_ptr<http::Exchange> ex) { handle(std::move(ex)); }) {
  templates_.set_images(&images_);  // FROM <image> in Nexusfile builds
}

Result<void> ApiServer::listen(const std::string& socket_path) {
  NEXUS_TRY(server_.listen_unix(socket_path, 0660));
  if (group* gr = getgrnam("nexus")) {
    if (::chown(socket_path.c_str(), 0, gr->gr_gid) != 0)
      return fail_errno(fmt::format("chown '{}' to group nexus", socket_path));
  }
  return {};
}

void ApiServer::handle(std::shared_ptr<http::Exchange> ex) {
  const auto& req = ex->request();
  log::debug(kLog, "{} {}", req.method, req.path);
  auto parts = split(req.path, '/');
  // "/v1/sandboxes/x" -> ["", "v1", "sandboxes", "x"]
  if (parts.size() < 3 || !parts[0].empty() || parts[1] != "v1")
    return reply_error(ex, 404, "not_found", fmt::format("no such endpoint '{}'", req.path));
  if (parts.back().empty()) parts.pop_back();  // tolerate a trailing slash
  const std::string& resource = parts[2];
  if (resource == "version" && parts.size() == 3) {
    if (req.method != "GET") return method_not_allowed(ex);
    return reply_json(ex, 200, Json{{"version", NEXUS_VERSION}, {"api", 1}});
  }
  Principal who = principal_of(*ex);
  if (resource == "sandboxes") return handle_sandboxes(who, parts, std::move(ex));
  if (resource == "auth") return handle_keys(who, parts, std::move(ex));
  if (resource == "egress") return handle_egress(mgr_, who, parts, std::move(ex));
  if (resource == "e2b" && parts.size() == 3) {
    if (req.method != "GET") return method_not_allowed(ex);
    if (e2b_url_.empty()) return reply_error(ex, 503, "unavailable", "the E2B endpoint is off (nexusd --e2b-listen)");
    return reply_json(ex, 200, Json{{"api_url", e2b_url_}, {"sandbox_url", e2b_url_}});
  }
  if (resource == "host" && parts.size() == 3) {
    if (req.method != "GET") return method_not_allowed(ex);
    Json host = host_json(mgr_.host(), mgr_.default_isolation());
    host["system"] = host::system_facts(mgr_.config().root_dir);  // cheap: /proc, /sys, one bpf(2)
    host["root_dir"] = mgr_.config().root_dir;
    host["network"] = mgr_.networking().report();
    return reply_json(ex, 200, host);
  }
  if (resource == "templates") return templates_.handle(parts, std::move(ex));
  if (resource == "builds") return templates_.handle_builds(parts, std::move(ex));
  if (resource == "images") {
    // Images are shared by every user: removing one is for admins (root).
    if (req.method == "DELETE" && !who.admin)
      return reply_error(ex, 403, "permission_denied", "removing images is for admins (root)");
    return images_.handle(parts, std::move(ex));
  }
  reply_error(ex, 404, "not_found", fmt::format("no such endpoint '{}'", req.path));
}

Result<SandboxRecord> ApiServer::visible(const Principal& who, const std::string& id) {
  auto r = mgr_.get(id);
  if (r && !can_access(who, *r)) return fail(Errc::not_found, fmt::format("sandbox '{}' not found", id));
  return r;
}

void ApiServer::handle_sandboxes(const Principal& who, const std::vector<std::string>& parts,
                                 std::shared_ptr<http::Exchange> ex) {
  const auto& method = ex->request().method;
  int64_t now = unix_now_ms();
  if (parts.size() == 3) {
    if (method == "GET") {
      auto q = parse_query(ex->request().query);
      bool all = q.count("all") && q["all"] != "0" && q["all"] != "false";
      auto list = mgr_.list(all);
      if (!list) return reply_error(ex, list.error());
      Json arr = Json::array();
      for (auto& r : *list)
        if (can_access(who, r)) arr.push_back(to_api_json(r, now));
      return reply_json(ex, 200, Json{{"sandboxes", arr}});
    }
    if (method != "POST") return method_not_allowed(ex);
    std::string owner = who.user;
    return read_json_body(ex, [this, ex, owner](Json body) {
      auto req = parse_create(body);
      if (!req) return reply_error(ex, req.error());
      req->owner = owner;
      mgr_.create(*req, [ex](Result<SandboxRecord> r) {
        if (!r) return reply_error(ex, r.error());
        reply_json(ex, 201, to_api_json(*r, unix_now_ms()));
      });
    });
  }
  const std::string id = parts[3];
  if (auto seen = visible(who, id); !seen) return reply_error(ex, seen.error());
  if (parts.size() == 4) {
    if (method == "GET") {
      auto r = mgr_.get(id);
      if (!r) return reply_error(ex, r.error());
      return reply_json(ex, 200, to_api_json(*r, now));
    }
    if (method == "DELETE") {
      auto r = mgr_.stop(id);
      if (!r) return reply_error(ex, r.error());
      return reply_json(ex, 200, to_api_json(*r, now));
    }
    return method_not_allowed(ex);
  }
  if (parts.size() >= 5 && parts[4] == "netpolicy") return handle_netpolicy(mgr_, id, parts, std::move(ex));
  if (parts.size() == 6 && parts[4] == "ports") {
    if (method != "GET") return method_not_allowed(ex);
    return reply_port(id, parts[5], ex);
  }
  if (parts.size() != 5)
    return reply_error(ex, 404, "not_found", fmt::format("no such endpoint '{}'", ex->request().path));
  const std::string& action = parts[4];
  if (action != "pause" && action != "resume" && action != "timeout" && action != "run" && action != "exec" &&
      action != "stop")
    return reply_error(ex, 404, "not_found", fmt::format("no such endpoint '{}'", ex->request().path));
  if (method != "POST") return method_not_allowed(ex);
  read_json_body(ex, [this, ex, id, action](Json body) {
    if (action == "run") return handle_run(mgr_, id, std::move(body), ex);
    if (action == "exec") return handle_exec(mgr_, id, std::move(body), ex);
    Result<SandboxRecord> r;
    if (action == "pause") r = mgr_.pause(id);
    else if (action == "resume") r = mgr_.resume(id);
    else if (action == "stop") r = mgr_.stop(id);
    else {
      auto ttl = json_int(body, "ttl_seconds", 0);
      if (!ttl) return reply_error(ex, ttl.error());
      if (!body.contains("ttl_seconds")) return reply_error(ex, Error(Errc::invalid_argument, "field 'ttl_seconds' is required"));
      r = mgr_.set_ttl(id, *ttl);
    }
    if (!r) return reply_error(ex, r.error());
    reply_json(ex, 200, to_api_json(*r, unix_now_ms()));
  });
}

void ApiServer::reply_port(const std::string& id, const std::string& port_text, const std::shared_ptr<http::Exchange>& ex) {
  auto port = parse_int(port_text);
  if (!port || *port < 1 || *port > 65535)
    return reply_error(ex, 400, "invalid_argument", fmt::format("'{}' is not a port (1-65535)", port_text));
  auto r = mgr_.get(id);
  if (!r) return reply_error(ex, r.error());
  if (r->net_index < 0)
    return reply_error(ex, 409, "conflict", fmt::format("sandbox '{}' has no network of its own", id));
  if (e2b_url_.empty()) return reply_error(ex, 503, "unavailable", "the E2B endpoint is off (nexusd --e2b-listen), and "
                                                                   "sandbox ports are served through it");
  // e2b_url_ is "http://HOST:PORT": the sandbox's port is PORT-ID.localhost on the same port.
  std::string listen_port = e2b_url_.substr(e2b_url_.rfind(':') + 1);
  std::string host = fmt::format("{}-{}.localhost:{}", *port, id, listen_port);
  auto settings = settings_from_json(r->network);
  bool token_needed = !settings || !settings->allow_public_traffic;
  Json j = {{"sandbox_id", id},
            {"port", *port},
            {"url", "http://" + host + "/"},
            {"host", host},
            {"headers", {{"E2b-Sandbox-Id", id}, {"E2b-Sandbox-Port", std::to_string(*port)}}},
            {"public", !token_needed}};
  if (token_needed) j["traffic_access_token"] = traffic_token_for(r->access_token);
  reply_json(ex, 200, j);
}

}  // namespace nexus::daemon
