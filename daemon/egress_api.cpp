// SPDX-License-Identifier: Apache-2.0
#include "daemon/egress_api.hpp"

#include <fmt/format.h>

#include "common/strings.hpp"
#include "daemon/api_util.hpp"
#include "net/egress/global_policy.hpp"

namespace nexus::daemon {

void handle_egress(SandboxManager& mgr, const Principal& who, const std::vector<std::string>& parts,
                   std::shared_ptr<http::Exchange> ex) {
  const auto& req = ex->request();
  auto not_allowed = [&] {
    reply_error(ex, 405, "method_not_allowed", fmt::format("method {} not allowed on {}", req.method, req.path));
  };
  if (parts.size() != 4)
    return reply_error(ex, 404, "not_found", fmt::format("no such endpoint '{}'", req.path));
  auto* gw = mgr.networking().gateway();
  if (!gw) return reply_error(ex, 503, "unavailable", "the egress gateway is not running (see nexus doctor)");
  const std::string& what = parts[3];
  if (what == "policies") {
    if (req.method == "GET") return reply_json(ex, 200, net::egress::to_json(gw->global_policy()));
    if (req.method != "PUT") return not_allowed();
    // The global policy (and its credentials' providers) is the operator's.
    if (!who.admin) return reply_error(ex, 403, "permission_denied", "setting the egress policy is for admins (root)");
    return read_json_body(ex, [&mgr, ex](Json body) {
      auto p = net::egress::global_policy_from_json(body);
      if (!p) return reply_error(ex, p.error());
      if (auto r = mgr.networking().set_global_policy(*p); !r) return reply_error(ex, r.error());
      reply_json(ex, 200, net::egress::to_json(*p));
    });
  }
  if (what == "audit") {
    if (req.method != "GET") return not_allowed();
    auto q = net::egress::audit_query_from_params(parse_query(req.query));
    if (!q) return reply_error(ex, q.error());
    // Everyone's URLs are for admins; a user sees the audit of a sandbox of theirs.
    if (!who.admin) {
      if (q->sandbox_id.empty())
        return reply_error(ex, 403, "permission_denied", "the whole audit is for admins (root); ask for ?sandbox=ID");
      auto r = mgr.get(q->sandbox_id);
      if (!r || !can_access(who, *r))
        return reply_error(ex, 404, "not_found", fmt::format("sandbox '{}' not found", q->sandbox_id));
    }
    auto* log = mgr.networking().audit_log();
    if (!log) return reply_error(ex, 503, "unavailable", "the egress audit log is not open (see nexusd's log)");
    auto records = log->query(*q);
    if (!records) return reply_error(ex, records.error());
    return reply_json(ex, 200, net::egress::audit_entries_json(*records));
  }
  if (what == "stats") {
    if (req.method != "GET") return not_allowed();
    return reply_json(ex, 200, gw->stats_json());
  }
  reply_error(ex, 404, "not_found", fmt::format("no such endpoint '{}'", req.path));
}

}  // namespace nexus::daemon
