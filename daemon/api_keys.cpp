// SPDX-License-Identifier: Apache-2.0
// Native API: /v1/auth/keys (create, list, revoke API keys for the E2B endpoint).
#include <fmt/format.h>

#include "common/strings.hpp"
#include "daemon/api_server.hpp"
#include "daemon/api_util.hpp"

namespace nexus::daemon {
namespace {

Json key_json(const ApiKeyRecord& k) {
  Json j = {{"id", k.id},
            {"user", k.user},
            {"name", k.name},
            {"admin", k.admin},
            {"prefix", k.prefix},
            {"created_at", format_rfc3339_ms(k.created_at_ms)}};
  j["last_used_at"] = k.last_used_at_ms ? Json(format_rfc3339_ms(k.last_used_at_ms)) : Json(nullptr);
  if (k.revoked_at_ms) j["revoked_at"] = format_rfc3339_ms(k.revoked_at_ms);
  return j;
}

}  // namespace

void ApiServer::handle_keys(const Principal& who, const std::vector<std::string>& parts,
                            std::shared_ptr<http::Exchange> ex) {
  const auto& method = ex->request().method;
  if (parts.size() < 4 || parts[3] != "keys" || parts.size() > 5)
    return reply_error(ex, 404, "not_found", fmt::format("no such endpoint '{}'", ex->request().path));
  if (parts.size() == 4 && method == "GET") {
    auto keys = keys_.list();
    if (!keys) return reply_error(ex, keys.error());
    Json arr = Json::array();
    for (auto& k : *keys)
      if (!k.revoked_at_ms && (who.admin || k.user == who.user)) arr.push_back(key_json(k));
    return reply_json(ex, 200, Json{{"keys", arr}});
  }
  if (parts.size() == 4 && method == "POST") {
    return read_json_body(ex, [this, ex, who](Json body) {
      auto user = json_string(body, "user", who.user);
      auto name = json_string(body, "name");
      if (!user) return reply_error(ex, user.error());
      if (!name) return reply_error(ex, name.error());
      bool admin = false;
      if (auto a = body.find("admin"); a != body.end() && !a->is_null()) {
        if (!a->is_boolean()) return reply_error(ex, Error(Errc::invalid_argument, "field 'admin' must be a boolean"));
        admin = a->get<bool>();
      }
      if (!who.admin && (*user != who.user || admin))
        return reply_error(ex, 403, "permission_denied",
                           fmt::format("user '{}' may only create non-admin keys for itself", who.user));
      auto k = keys_.create(*user, admin, *name);
      if (!k) return reply_error(ex, k.error());
      Json j = key_json(k->record);
      j["key"] = k->secret;
      reply_json(ex, 201, j);
    });
  }
  if (parts.size() == 5 && method == "DELETE") {
    auto keys = keys_.list();
    if (!keys) return reply_error(ex, keys.error());
    const std::string& id = parts[4];
    bool mine = false;
    for (auto& k : *keys)
      if (k.id == id && !k.revoked_at_ms && (who.admin || k.user == who.user)) mine = true;
    if (!mine) return reply_error(ex, 404, "not_found", fmt::format("API key '{}' not found", id));
    auto r = keys_.revoke(id);
    if (!r) return reply_error(ex, r.error());
    return reply_json(ex, 200, key_json(*r));
  }
  reply_error(ex, 405, "method_not_allowed",
              fmt::format("method {} not allowed on {}", method, ex->request().path));
}

}  // namespace nexus::daemon
