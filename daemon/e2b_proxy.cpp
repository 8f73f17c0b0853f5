// SPDX-License-Identifier: Apache-2.0
// E2B sandbox traffic proxy.
#include "daemon/e2b_proxy.hpp"

#include <functional>
#include <memory>

#include <fmt/format.h>

#include "common/json.hpp"
#include "common/log.hpp"
#include "common/strings.hpp"
#include "daemon/auth.hpp"
#include "daemon/e2b_json.hpp"
#include "daemon/network_settings.hpp"

namespace nexus::daemon {
namespace {

constexpr const char* kLog = "daemon.e2b";
constexpr size_t kHighWater = 1024 * 1024;  // bytes queued on one side before pausing the other
constexpr uint64_t kConnectTimeoutMs = 5000;

void reply_502(const std::shared_ptr<http::Exchange>& ex, const std::string& id, std::string_view message) {
  http::Headers h;
  h.set("Content-Type", "application/json");
  ex->respond(502, std::move(h), dump_json(Json{{"sandboxId", id}, {"message", message}, {"code", 502}}));
}

bool has_request_body(const http::RequestHead& head) {
  if (head.headers.has("Transfer-Encoding")) return true;
  auto len = head.headers.get("Content-Length");
  return len && *len != "0";
}

/// The protocol a request asks to upgrade to (Connection: upgrade, Upgrade: websocket),
/// or "" for a plain request.
std::string upgrade_protocol(const http::RequestHead& head) {
  auto up = head.headers.get("Upgrade");
  if (!up || up->empty()) return "";
  for (const auto& [k, v] : head.headers.items())
    if (iequals(k, "Connection"))
      for (const auto& tok : split(v, ','))
        if (iequals(trim(tok), "upgrade")) return std::string(*up);
  return "";
}

/// What the client sends, passed on to the sandbox's call: bytes with back-pressure (the
/// client is paused while the call has too much queued), then the end (finish, or cancel
/// when the client broke off). Serves a request body and an upgraded tunnel alike.
struct ClientToSandbox {
  std::function<void(std::string_view)> data;
  std::function<void(Result<void>)> end;
};
ClientToSandbox client_to_sandbox(const std::shared_ptr<http::Exchange>& ex,
                                  const std::shared_ptr<std::weak_ptr<http::ClientCall>>& call_slot) {
  return {[ex, call_slot](std::string_view data) {
            auto c = call_slot->lock();
            if (!c) return;
            c->write(data);
            if (c->pending_bytes() > kHighWater) {
              ex->pause_body();
              c->on_drain([ex] { ex->resume_body(); });
            }
          },
          [call_slot](Result<void> r) {
            auto c = call_slot->lock();
            if (!c) return;
            if (r) c->finish();
            else c->cancel();
          }};
}

}  // namespace

bool is_hop_header(std::string_view name) {
  for (std::string_view h : {"connection", "keep-alive", "transfer-encoding", "content-length", "te", "trailer",
                             "upgrade", "proxy-connection", "proxy-authorization", "proxy-authenticate", "host",
                             "expect"})
    if (iequals(name, h)) return true;
  return false;
}

bool E2bProxy::is_signed(const http::RequestHead& head) {
  if (head.path != "/files" || head.headers.has("X-Access-Token")) return false;
  return parse_query(head.query).count("signature") > 0;
}

void E2bProxy::handle_signed(std::shared_ptr<http::Exchange> ex, const std::string& id) {
  const auto& head = ex->request();
  auto unauthorized = [&](std::string_view why) { e2b::reply_error(ex, 401, why); };
  auto q = parse_query(head.query);
  std::string_view op = head.method == "GET" || head.method == "HEAD" ? "read" : head.method == "POST" ? "write" : "";
  if (op.empty()) return unauthorized("a signed URL is for GET (download) or POST (upload)");
  std::optional<int64_t> expiration;
  if (auto it = q.find("signature_expiration"); it != q.end()) {
    auto n = parse_int(it->second);
    if (!n) return unauthorized("invalid signature_expiration");
    if (*n * 1000 < unix_now_ms()) return unauthorized("the signature has expired");
    expiration = *n;
  }
  const std::string& signature = q["signature"];
  std::string user = q.count("username") ? q["username"] : "";
  std::string path = q.count("path") ? q["path"] : "";
  auto matches = [&](const SandboxRecord& r) {
    return r.state == SandboxState::running && !r.access_token.empty() &&
           constant_time_equal(signature, file_signature(path, op, user, r.access_token, expiration));
  };
  if (!id.empty()) {
    auto r = mgr_.get(id);
    if (!r || r->state != SandboxState::running) return reply_502(ex, id, "The sandbox was not found");
    if (!matches(*r)) return unauthorized("invalid signature");
    return handle(std::move(ex), id, r->access_token);
  }
  for (const auto& r : mgr_.live_records())
    if (matches(r)) return handle(std::move(ex), r.id, r.access_token);
  unauthorized("invalid signature (or the sandbox is not running)");
}

void E2bProxy::handle(std::shared_ptr<http::Exchange> ex, const std::string& id, const std::string& access_token,
                      std::string_view host_port) {
  const auto& head = ex->request();
  auto port_header = head.headers.get("E2b-Sandbox-Port");
  std::string_view port = !host_port.empty() ? host_port : port_header ? *port_header : std::string_view();
  if (!port.empty() && port != "49983" && port != "49999") return forward_to_port(std::move(ex), id, port);
  auto endpoint = mgr_.agent_endpoint(id);
  if (!endpoint) return reply_502(ex, id, "The sandbox was not found");
  // The agent takes its settings (access token, default user, envs) from nexusd alone.
  if (head.path == "/init") return e2b::reply_error(ex, 403, "/init is reserved for nexusd");
  relay(std::move(ex), id, *endpoint, access_token, false);
}

void E2bProxy::forward_to_port(std::shared_ptr<http::Exchange> ex, const std::string& id, std::string_view port_text) {
  auto port = parse_int(port_text);
  if (!port || *port < 1 || *port > 65535)
    return e2b::reply_error(ex, 400, fmt::format("'{}' is not a port", port_text));
  auto r = mgr_.get(id);
  if (!r || r->state != SandboxState::running) return reply_502(ex, id, "The sandbox was not found");
  auto a = mgr_.networking().addresses(*r);
  if (!a) return reply_502(ex, id, fmt::format("The sandbox has no network, so port {} cannot be reached", *port));
  auto settings = settings_from_json(r->network);
  if (!settings || !settings->allow_public_traffic) {
    // Public traffic off: only with the sandbox's traffic access token (never logged).
    auto token = ex->request().headers.get("E2b-Traffic-Access-Token");
    std::string want = traffic_token_for(r->access_token);
    if (!token || want.empty() || !constant_time_equal(*token, want))
      return e2b::reply_error(ex, 403, fmt::format("port {} of sandbox {} needs its traffic access token "
                                                   "(the e2b-traffic-access-token header)", *port, id));
  }
  relay(std::move(ex), id, http::Endpoint::tcp(a->sandbox4, static_cast<uint16_t>(*port)), {}, true);
}

void E2bProxy::relay(std::shared_ptr<http::Exchange> ex, const std::string& id, const http::Endpoint& target,
                     const std::string& access_token, bool to_user_port) {
  const auto& head = ex->request();
  const http::Endpoint* endpoint = &target;

  http::ClientRequest req;
  req.method = head.method;
  req.target = head.target;
  req.connect_timeout_ms = kConnectTimeoutMs;
  // Hop-by-hop headers, those the client's Connection header names, and the API key (the
  // sandbox has no business seeing it) stay here.
  std::vector<std::string> named;
  for (const auto& [k, v] : head.headers.items())
    if (iequals(k, "Connection"))
      for (const auto& tok : split(v, ','))
        if (auto t = trim(tok); !t.empty()) named.emplace_back(t);
  auto dropped = [&](std::string_view k) {
    if (is_hop_header(k) || iequals(k, "X-API-Key")) return true;
    // The agent checks the traffic token itself (the code interpreter); a program of the
    // sandbox's own behind a user port never sees it.
    if (to_user_port && iequals(k, "E2b-Traffic-Access-Token")) return true;
    for (const auto& n : named)
      if (iequals(k, n)) return true;
    return false;
  };
  for (const auto& [k, v] : head.headers.items())
    if (!dropped(k) && !(iequals(k, "X-Access-Token") && !access_token.empty())) req.headers.add(k, v);
  if (!access_token.empty()) req.headers.set("X-Access-Token", access_token);
  bool body = has_request_body(head);
  req.chunked_body = body;
  // A WebSocket (or another upgrade) to a program of the sandbox's: relayed as a tunnel once
  // the program answers 101. nexusd's own ports (the agent) take no upgrades.
  std::string protocol = to_user_port && !body ? upgrade_protocol(head) : "";
  if (!protocol.empty()) {
    req.upgrade = true;
    req.headers.set("Connection", "Upgrade");
    req.headers.set("Upgrade", protocol);
  }

  // The call holds the exchange until the upstream response ends; the exchange's callbacks
  // hold the call only weakly, so nothing keeps the pair alive after both ends are done.
  // What the upstream response did so far: nothing, a head was forwarded, or it was
  // refused (a 1xx answer) and the client already has its 502.
  enum class Upstream { waiting, streaming, refused };
  auto state = std::make_shared<Upstream>(Upstream::waiting);
  auto call_slot = std::make_shared<std::weak_ptr<http::ClientCall>>();
  http::ResponseCallbacks cbs;
  cbs.on_head = [ex, state, call_slot, id, upgrade = req.upgrade](const http::ResponseHead& rh) {
    auto refuse = [&](std::string_view why) {
      *state = Upstream::refused;
      reply_502(ex, id, why);
      if (auto c = call_slot->lock()) c->cancel();
    };
    if (rh.status == 101 && upgrade) {
      http::Headers h;
      for (const auto& [k, v] : rh.headers.items())
        if (!iequals(k, "Content-Length") && !iequals(k, "Transfer-Encoding") && !iequals(k, "Keep-Alive")) h.add(k, v);
      // The client's end of the tunnel finishes the sandbox's sending side; it may still answer.
      auto pump = client_to_sandbox(ex, call_slot);
      if (!ex->upgrade(101, std::move(h), std::move(pump.data), std::move(pump.end)))
        return refuse("The connection could not be upgraded");
      *state = Upstream::streaming;
      return;
    }
    // Another 1xx is nothing an E2B client expects.
    if (rh.status < 200) return refuse(fmt::format("The sandbox answered HTTP {}", rh.status));
    *state = Upstream::streaming;
    http::Headers h;
    for (const auto& [k, v] : rh.headers.items())
      if (!is_hop_header(k) || iequals(k, "content-length")) h.add(k, v);
    ex->start(rh.status, std::move(h));
  };
  cbs.on_data = [ex, state, call_slot](std::string_view data) {
    if (*state != Upstream::streaming || !ex->write(data)) return;
    if (ex->pending_bytes() > kHighWater) {
      auto call = call_slot->lock();
      if (!call) return;
      call->pause();
      ex->on_drain([call_slot] {
        if (auto c = call_slot->lock()) c->resume();
      });
    }
  };
  cbs.on_end = [ex, state, id](Result<void> r) {
    if (*state == Upstream::refused) return;
    if (r) return ex->finish();
    if (ex->aborted()) return;
    log::debug(kLog, "sandbox {}: upstream {} {}: {}", id, ex->request().method, ex->request().path, r.error().message());
    if (*state == Upstream::waiting) return reply_502(ex, id, "The sandbox is not reachable: " + r.error().message());
    ex->abort();  // the client must see a truncated response, not a complete one
  };
  auto call = http::request(loop_, *endpoint, std::move(req), std::move(cbs));
  *call_slot = call;
  ex->on_abort([call_slot] {
    if (auto c = call_slot->lock()) c->cancel();
  });
  if (!body) return;
  auto pump = client_to_sandbox(ex, call_slot);
  ex->stream_body(std::move(pump.data), std::move(pump.end));
}

}  // namespace nexus::daemon
