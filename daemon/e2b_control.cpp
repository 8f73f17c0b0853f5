// SPDX-License-Identifier: Apache-2.0
// E2B control-plane routes.
#include "daemon/e2b_control.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "common/log.hpp"
#include "common/strings.hpp"
#include "daemon/e2b_json.hpp"
#include "daemon/network_settings.hpp"
#include "daemon/jail/jail.hpp"

namespace nexus::daemon {
namespace {

constexpr const char* kLog = "daemon.e2b";
constexpr size_t kMaxBody = 1024 * 1024;
constexpr int64_t kDefaultTimeoutSeconds = 300;  // E2B's default when the SDK sends none
constexpr int64_t kPausedKeepSeconds = 7 * 24 * 3600;
constexpr int64_t kMaxPage = 1000;
constexpr int64_t kDefaultPage = 100;

using e2b::reply_error;
using e2b::reply_json;

/// Read a JSON object body (empty = {}), then call `done`; 400 on anything else.
void read_object(const std::shared_ptr<http::Exchange>& ex, std::function<void(Json)> done) {
  ex->read_body(kMaxBody, [ex, done = std::move(done)](Result<std::string> body) {
    if (!body) {
      if (!body.error().is(Errc::too_large) && !ex->responded()) reply_error(ex, 400, body.error().message());
      return;
    }
    auto j = parse_json(body->empty() ? std::string_view("{}") : std::string_view(*body));
    if (!j) return reply_error(ex, 400, "invalid JSON body: " + j.error().message());
    if (!j->is_object()) return reply_error(ex, 400, "the request body must be a JSON object");
    done(std::move(*j));
  });
}

/// The optional integer "timeout" (seconds); nullopt when absent.
Result<std::optional<int64_t>> timeout_field(const Json& body) {
  auto it = body.find("timeout");
  if (it == body.end() || it->is_null()) return std::optional<int64_t>();
  if (!it->is_number_integer()) return fail(Errc::invalid_argument, "'timeout' must be an integer number of seconds");
  int64_t t = it->get<int64_t>();
  if (t < 0) return fail(Errc::invalid_argument, "'timeout' must not be negative");
  return std::optional<int64_t>(std::clamp<int64_t>(t, 1, kPausedKeepSeconds));
}

/// E2B template names that mean "the default template" here.
std::string resolve_template(const std::string& name, const std::string& fallback) {
  if (name.empty() || name == "base" || name == "code-interpreter-v1") return fallback;
  return name;
}

bool matches(const SandboxRecord& r, const std::map<std::string, std::string>& md) {
  for (auto& [k, v] : md) {
    auto it = r.metadata.find(k);
    if (it == r.metadata.end() || it->second != v) return false;
  }
  return true;
}

}  // namespace

void E2bControl::handle(std::shared_ptr<http::Exchange> ex) {
  const auto& req = ex->request();
  auto key = req.headers.get("X-API-Key");
  if (!key || key->empty()) return reply_error(ex, 401, "Missing API key: set the X-API-Key header (E2B_API_KEY)");
  auto who = keys_.verify(*key);
  if (!who) {
    if (who.error().is(Errc::unauthenticated)) return reply_error(ex, 401, "Invalid API key");
    return reply_error(ex, who.error());
  }
  auto parts = split(req.path, '/');  // "/v2/sandboxes/x/connect" -> "", "v2", "sandboxes", "x", "connect"
  if (parts.size() > 1 && parts.back().empty()) parts.pop_back();
  const std::string& m = req.method;
  bool v2 = parts.size() >= 3 && parts[1] == "v2" && parts[2] == "sandboxes";
  bool v1 = parts.size() >= 2 && parts[1] == "sandboxes";
  log::debug(kLog, "{} {} (user {})", m, req.path, who->user);
  if (v2 && parts.size() == 3) {
    if (m == "POST") return create(*who, ex);
    if (m == "GET") return list(*who, ex);
  } else if (v2 && parts.size() == 5 && parts[4] == "connect" && m == "POST") {
    return connect(*who, parts[3], ex);
  } else if (v1 && parts.size() == 2) {
    if (m == "POST") return create(*who, ex);
    if (m == "GET") return list(*who, ex);
  } else if (v1 && parts.size() == 3) {
    if (m == "GET") return info(*who, parts[2], ex);
    if (m == "DELETE") return kill(*who, parts[2], ex);
  } else if (v1 && parts.size() == 4) {
    const std::string& id = parts[2];
    const std::string& action = parts[3];
    if (action == "timeout" && m == "POST") return set_timeout(*who, id, ex);
    if (action == "pause" && m == "POST") return pause(*who, id, ex);
    if ((action == "resume" || action == "connect") && m == "POST") return connect(*who, id, ex);
    if (action == "metrics" && m == "GET") return metrics(*who, id, ex);
    if (action == "refreshes" && m == "POST") return set_timeout(*who, id, ex);
    if (action == "network" && m == "PUT") return update_network(*who, id, ex);
    if (action == "fork" && m == "POST") return unsupported(*who, id, "forking a sandbox", ex);
    if (action == "snapshots" && m == "POST") return unsupported(*who, id, "snapshots", ex);
  } else if (parts.size() == 2 && parts[1] == "snapshots" && m == "GET") {
    return reply_json(ex, 200, Json::array());  // Sandbox.listSnapshots(): there are none
  } else if (parts.size() == 3 && parts[1] == "templates" && m == "DELETE") {
    // Sandbox.deleteSnapshot(id): no snapshot exists, so the SDK's "not found" answer (false).
    return reply_error(ex, 404, fmt::format("snapshot '{}' not found", parts[2]));
  }
  reply_error(ex, 404, fmt::format("no such endpoint: {} {}", m, req.path));
}

Result<SandboxRecord> E2bControl::visible_live(const Principal& who, const std::string& id) {
  auto r = mgr_.get(id);
  if (!r || !can_access(who, *r) || !(r->live() || r->state == SandboxState::creating))
    return fail(Errc::not_found, fmt::format("sandbox '{}' not found", id));
  return r;
}

void E2bControl::create(const Principal& who, const ExPtr& ex) {
  read_object(ex, [this, who, ex](Json body) {
    CreateRequest req;
    auto tpl = json_string(body, "templateID");
    auto timeout = timeout_field(body);
    auto metadata = e2b::string_map_field(body, "metadata");
    auto envs = e2b::string_map_field(body, "envVars");
    for (auto* e : {tpl ? nullptr : &tpl.error(), timeout ? nullptr : &timeout.error(),
                    metadata ? nullptr : &metadata.error(), envs ? nullptr : &envs.error()})
      if (e) return reply_error(ex, 400, e->message());
    if (auto ap = body.find("autoPause"); ap != body.end() && !ap->is_null()) {
      if (!ap->is_boolean()) return reply_error(ex, 400, "'autoPause' must be a boolean");
      if (ap->get<bool>()) req.on_timeout = TimeoutAction::pause;
    }
    req.template_name = resolve_template(*tpl, mgr_.config().default_template);
    req.ttl_seconds = timeout->value_or(kDefaultTimeoutSeconds);
    req.metadata = std::move(*metadata);
    req.env = std::move(*envs);
    req.owner = who.user;
    // E2B's network options: allowOut / denyOut (CIDRs or domains), allowPublicTraffic, the
    // header transforms; allow_internet_access (snake case, as the SDK sends it) false
    // closes everything out.
    bool internet = true;
    if (auto ai = body.find("allow_internet_access"); ai != body.end() && !ai->is_null()) {
      if (!ai->is_boolean()) return reply_error(ex, 400, "'allow_internet_access' must be a boolean");
      internet = ai->get<bool>();
    }
    auto network = settings_from_e2b(body.value("network", Json()), internet);
    if (!network) return reply_error(ex, 400, network.error().message());
    req.network = std::move(*network);
    mgr_.create(req, [ex, domain = domain_](Result<SandboxRecord> r) {
      if (!r) return reply_error(ex, r.error());
      reply_json(ex, 201, e2b::sandbox_json(*r, domain));
    });
  });
}

void E2bControl::connect(const Principal& who, const std::string& id, const ExPtr& ex) {
  read_object(ex, [this, who, id, ex](Json body) {
    auto timeout = timeout_field(body);
    if (!timeout) return reply_error(ex, 400, timeout.error().message());
    auto r = visible_live(who, id);
    if (!r) return reply_error(ex, r.error());
    int64_t seconds = timeout->value_or(kDefaultTimeoutSeconds);
    if (r->state == SandboxState::creating) return reply_error(ex, 409, fmt::format("sandbox '{}' is starting", id));
    if (r->state == SandboxState::paused) {
      auto resumed = mgr_.resume(id);
      if (!resumed) return reply_error(ex, resumed.error());
      auto set = mgr_.set_ttl(id, seconds);
      if (!set) return reply_error(ex, set.error());
      return reply_json(ex, 201, e2b::sandbox_json(*set, domain_));
    }
    auto extended = mgr_.extend(id, seconds);
    if (!extended) return reply_error(ex, extended.error());
    reply_json(ex, 200, e2b::sandbox_json(*extended, domain_));
  });
}

void E2bControl::list(const Principal& who, const ExPtr& ex) {
  auto q = parse_query(ex->request().query);
  bool want_running = true, want_paused = true;
  if (auto it = q.find("state"); it != q.end() && !it->second.empty()) {
    want_running = want_paused = false;
    for (auto& s : split(it->second, ',')) {
      if (s == "running") want_running = true;
      else if (s == "paused") want_paused = true;
      else return reply_error(ex, 400, fmt::format("unknown state '{}' (running, paused)", s));
    }
  }
  std::map<std::string, std::string> md;
  if (auto it = q.find("metadata"); it != q.end()) {
    auto decoded = e2b::decode_metadata_filter(it->second);
    if (!decoded) return reply_error(ex, 400, decoded.error().message());
    md = std::move(*decoded);
  }
  int64_t limit = kDefaultPage;
  if (auto it = q.find("limit"); it != q.end()) {
    auto n = parse_int(it->second);
    if (!n || *n < 1 || *n > kMaxPage) return reply_error(ex, 400, "'limit' must be an integer from 1 to 1000");
    limit = *n;
  }
  bool asc = q.count("order") && q["order"] == "asc";
  std::string tpl = q.count("template") ? q["template"] : "";
  int64_t started_after = 0;
  if (auto it = q.find("startedAfter"); it != q.end() && !it->second.empty()) {
    auto ms = parse_rfc3339_ms(it->second);
    if (!ms) return reply_error(ex, 400, "'startedAfter' must be an RFC 3339 time");
    started_after = *ms;
  }
  auto all = mgr_.list(false);
  if (!all) return reply_error(ex, all.error());
  std::vector<SandboxRecord> rows;
  for (auto& r : *all) {
    if (!r.live() || !can_access(who, r)) continue;
    if ((r.state == SandboxState::running && !want_running) || (r.state == SandboxState::paused && !want_paused)) continue;
    if (!matches(r, md) || (!tpl.empty() && r.template_name != tpl) || r.created_at_ms < started_after) continue;
    rows.push_back(std::move(r));
  }
  // Pages in (created_at, id) order; the token is the position of the last row sent.
  auto before = [asc](const SandboxRecord& a, const SandboxRecord& b) {
    if (a.created_at_ms != b.created_at_ms) return asc ? a.created_at_ms < b.created_at_ms : a.created_at_ms > b.created_at_ms;
    return asc ? a.id < b.id : a.id > b.id;
  };
  std::sort(rows.begin(), rows.end(), before);
  size_t start = 0;
  if (auto it = q.find("nextToken"); it != q.end() && !it->second.empty()) {
    auto sep = it->second.find('.');
    auto ms = parse_int(it->second.substr(0, sep));
    if (sep == std::string::npos || !ms) return reply_error(ex, 400, "invalid 'nextToken'");
    SandboxRecord pos;
    pos.created_at_ms = *ms;
    pos.id = it->second.substr(sep + 1);
    start = static_cast<size_t>(std::upper_bound(rows.begin(), rows.end(), pos, before) - rows.begin());
  }
  Json arr = Json::array();
  size_t end = std::min(rows.size(), start + static_cast<size_t>(limit));
  for (size_t i = start; i < end; ++i) arr.push_back(e2b::listed_json(rows[i]));
  http::Headers h;
  if (end < rows.size() && end > start)
    h.set("X-Next-Token", fmt::format("{}.{}", rows[end - 1].created_at_ms, rows[end - 1].id));
  h.set("X-Total-Running", std::to_string(rows.size()));
  reply_json(ex, 200, arr, std::move(h));
}

void E2bControl::info(const Principal& who, const std::string& id, const ExPtr& ex) {
  auto r = visible_live(who, id);
  if (!r) return reply_error(ex, r.error());
  reply_json(ex, 200, e2b::detail_json(*r, domain_));
}

void E2bControl::kill(const Principal& who, const std::string& id, const ExPtr& ex) {
  auto r = visible_live(who, id);
  if (!r) return reply_error(ex, r.error());
  auto stopped = mgr_.stop(id);
  if (!stopped) return reply_error(ex, stopped.error());
  log::info(kLog, "sandbox {} killed by {}", id, who.user);
  e2b::reply_no_content(ex);
}

void E2bControl::set_timeout(const Principal& who, const std::string& id, const ExPtr& ex) {
  read_object(ex, [this, who, id, ex](Json body) {
    auto timeout = timeout_field(body);
    if (!timeout) return reply_error(ex, 400, timeout.error().message());
    if (!*timeout) {  // /refreshes sends "duration"
      auto d = json_int(body, "duration", -1);
      if (!d || *d < 0) return reply_error(ex, 400, "'timeout' is required");
      *timeout = std::clamp<int64_t>(*d, 1, kPausedKeepSeconds);
    }
    auto r = visible_live(who, id);
    if (!r) return reply_error(ex, r.error());
    auto set = mgr_.set_ttl(id, **timeout);
    if (!set) return reply_error(ex, set.error());
    e2b::reply_no_content(ex);
  });
}

void E2bControl::pause(const Principal& who, const std::string& id, const ExPtr& ex) {
  read_object(ex, [this, who, id, ex](Json) {
    auto r = visible_live(who, id);
    if (!r) return reply_error(ex, r.error());
    if (r->state == SandboxState::paused) return reply_error(ex, 409, fmt::format("sandbox '{}' is already paused", id));
    if (r->state != SandboxState::running) return reply_error(ex, 409, fmt::format("sandbox '{}' is starting", id));
    auto paused = mgr_.pause(id);
    if (!paused) return reply_error(ex, paused.error());
    // A paused E2B sandbox waits to be resumed rather than timing out like a running one.
    if (auto kept = mgr_.set_ttl(id, kPausedKeepSeconds); !kept) log::warning(kLog, "{}", kept.error().message());
    e2b::reply_no_content(ex);
  });
}

void E2bControl::update_network(const Principal& who, const std::string& id, const ExPtr& ex) {
  read_object(ex, [this, who, id, ex](Json body) {
    auto r = visible_live(who, id);
    if (!r) return reply_error(ex, r.error());
    bool internet = true;
    if (auto ai = body.find("allow_internet_access"); ai != body.end() && !ai->is_null()) {
      if (!ai->is_boolean()) return reply_error(ex, 400, "'allow_internet_access' must be a boolean");
      internet = ai->get<bool>();
    }
    Json network = body;
    network.erase("allow_internet_access");
    auto settings = settings_from_e2b(network, internet);
    if (!settings) return reply_error(ex, 400, settings.error().message());
    // allowPublicTraffic is a create-time choice in E2B; keep the sandbox's.
    if (auto old = mgr_.network_settings(id); old) settings->allow_public_traffic = old->allow_public_traffic;
    auto updated = mgr_.set_network(id, std::move(*settings));
    if (!updated) return reply_error(ex, updated.error());
    e2b::reply_no_content(ex);
  });
}

void E2bControl::unsupported(const Principal& who, const std::string& id, std::string_view what, const ExPtr& ex) {
  auto r = visible_live(who, id);
  if (!r) return reply_error(ex, r.error());
  reply_error(ex, 501, fmt::format("{} is not supported by this Nexus release", what));
}

void E2bControl::metrics(const Principal& who, const std::string& id, const ExPtr& ex) {
  auto r = mgr_.get(id);
  if (!r || !can_access(who, *r)) return reply_error(ex, 404, fmt::format("sandbox '{}' not found", id));
  Json arr = Json::array();
  if (r->live()) {
    if (auto u = jail::usage(id); u) {
      int64_t now = unix_now_ms();
      double uptime_s = static_cast<double>(std::max<int64_t>(now - r->created_at_ms, 1)) / 1000.0;
      double pct = static_cast<double>(u->cpu_ns) / 1e9 / uptime_s / r->cpus * 100.0;
      arr.push_back(e2b::metric_json(now, r->cpus, u->memory_bytes, static_cast<uint64_t>(r->memory_mib) << 20,
                                     std::min(pct, 100.0)));
    }
  }
  reply_json(ex, 200, arr);
}

}  // namespace nexus::daemon
