// SPDX-License-Identifier: Apache-2.0
// E2B control-plane JSON.
#include "daemon/e2b_json.hpp"

#include <fmt/format.h>

#include "common/strings.hpp"
#include "daemon/api_util.hpp"
#include "daemon/auth.hpp"

namespace nexus::daemon::e2b {
namespace {

constexpr int kDiskSizeMb = 4096;  // a jail's writable layer shares the host disk

Json base_json(const SandboxRecord& r) {
  return Json{
      {"sandboxID", r.id},
      {"templateID", r.template_name},
      {"alias", r.template_name},
      {"clientID", kClientId},
      {"envdVersion", kEnvdVersion},
  };
}

}  // namespace

std::string_view e2b_state(SandboxState s) { return s == SandboxState::paused ? "paused" : "running"; }

Json sandbox_json(const SandboxRecord& r, const std::string& domain) {
  Json j = base_json(r);
  j["envdAccessToken"] = r.access_token;
  auto traffic = traffic_token_for(r.access_token);
  j["trafficAccessToken"] = traffic.empty() ? Json(nullptr) : Json(traffic);
  j["domain"] = domain.empty() ? Json(nullptr) : Json(domain);
  return j;
}

Json listed_json(const SandboxRecord& r) {
  Json j = base_json(r);
  j["cpuCount"] = r.cpus;
  j["memoryMB"] = r.memory_mib;
  j["diskSizeMB"] = kDiskSizeMb;
  j["metadata"] = r.metadata;
  j["startedAt"] = format_rfc3339_ms(r.created_at_ms);
  j["endAt"] = format_rfc3339_ms(r.expires_at_ms);
  j["state"] = e2b_state(r.state);
  j["volumeMounts"] = Json::array();
  return j;
}

Json detail_json(const SandboxRecord& r, const std::string& domain) {
  Json j = listed_json(r);
  j["envdAccessToken"] = r.access_token;
  j["domain"] = domain.empty() ? Json(nullptr) : Json(domain);
  j["allowInternetAccess"] = r.net_index >= 0;  // a network of its own (its rules may still deny)
  j["lifecycle"] = {{"onTimeout", r.on_timeout == TimeoutAction::pause ? "pause" : "kill"}, {"autoResume", false}};
  return j;
}

Json metric_json(int64_t now_ms, int cpus, uint64_t mem_used, uint64_t mem_total, double cpu_pct) {
  return Json{{"timestamp", format_rfc3339_ms(now_ms)},
              {"timestampUnix", now_ms / 1000},
              {"cpuCount", cpus},
              {"cpuUsedPct", cpu_pct},
              {"memUsed", mem_used},
              {"memTotal", mem_total},
              {"memCache", 0},
              {"diskUsed", 0},
              {"diskTotal", static_cast<int64_t>(kDiskSizeMb) << 20}};
}

Result<std::map<std::string, std::string>> decode_metadata_filter(std::string_view value) {
  auto bad = [] { return fail(Errc::invalid_argument, "malformed 'metadata' query parameter"); };
  auto whole = url_decode(value);
  if (!whole) return bad();
  std::map<std::string, std::string> out;
  for (const auto& pair : split(*whole, '&')) {
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    auto key = url_decode(std::string_view(pair).substr(0, eq));
    auto val = url_decode(eq == std::string::npos ? std::string_view() : std::string_view(pair).substr(eq + 1));
    if (!key || !val || key->empty()) return bad();
    out[*key] = *val;
  }
  return out;
}

Result<std::map<std::string, std::string>> string_map_field(const Json& body, const char* key) {
  std::map<std::string, std::string> out;
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return out;
  if (!it->is_object()) return fail(Errc::invalid_argument, fmt::format("'{}' must be an object of strings", key));
  for (auto& [k, v] : it->items()) {
    if (!v.is_string()) return fail(Errc::invalid_argument, fmt::format("'{}.{}' must be a string", key, k));
    out[k] = v.get<std::string>();
  }
  return out;
}

void reply_json(const std::shared_ptr<http::Exchange>& ex, int status, const Json& body, http::Headers headers) {
  headers.set("Content-Type", "application/json");
  ex->respond(status, std::move(headers), dump_json(body));
}

void reply_no_content(const std::shared_ptr<http::Exchange>& ex) { ex->respond(204, {}, {}); }

void reply_error(const std::shared_ptr<http::Exchange>& ex, int status, std::string_view message) {
  reply_json(ex, status, Json{{"code", status}, {"message", message}});
}

void reply_error(const std::shared_ptr<http::Exchange>& ex, const Error& e) {
  int status = http_status_for(e);
  if (status == 413) status = 400;
  reply_error(ex, status, e.message());
}

}  // namespace nexus::daemon::e2b
