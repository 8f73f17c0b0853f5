// SPDX-License-Identifier: Apache-2.0
// `nexus egress policy set|show`, `nexus egress audit`, `nexus egress stats`: the egress gateway.
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"

namespace nexus::cli {
namespace {

std::string joined(const Json& list) {
  std::string out;
  for (const Json& x : list) out += (out.empty() ? "" : ", ") + (x.is_string() ? x.get<std::string>() : x.dump());
  return out.empty() ? "-" : out;
}

int policy(const Command& cmd, const ApiClient& api, const Console& console) {
  int rc = exit_ok;
  auto answer = call_for_text(cmd, api, console, &rc);
  if (!answer) return rc;
  if (cmd.id == CommandId::egress_policy_set) console.out("Egress policy set.\n");
  console.out(fmt::format("Allowed domains: {}\nDenied domains:  {}\n", joined(array_member(*answer, "allow")),
                          joined(array_member(*answer, "deny"))));
  Json inject = array_member(*answer, "inject");
  if (inject.empty()) {
    console.out("Injected headers: none\n");
    return exit_ok;
  }
  std::vector<Column> columns = {{"HOST", Align::left, false}, {"HEADER"}, {"PROVIDER"}};
  std::vector<std::vector<Cell>> rows;
  for (const Json& r : inject)
    rows.push_back({{field_text(r, "host")}, {field_text(r, "header")}, {field_text(r, "provider")}});
  console.out("Injected headers (values are never shown):\n");
  console.out(format_table(columns, rows, console.width, console.color_out()));
  return exit_ok;
}

int audit(const Command& cmd, const ApiClient& api, const Console& console) {
  auto answer = api.call(cmd.request);
  if (!answer) return report_failure(console, answer.error(), cmd.socket, false);
  Json entries = array_member(*answer, "entries");
  if (cmd.json) {
    console.out(json_text(*answer));
    return exit_ok;
  }
  if (entries.empty()) {
    console.out("No connections.\n");
    return exit_ok;
  }
  int64_t now = console.now();
  std::vector<Column> columns = {{"TIME"}, {"SANDBOX", Align::left, false}, {"OUTCOME"}, {"HOST"}, {"REQUEST"},
                                 {"STATUS", Align::right}, {"SENT", Align::right}, {"RECEIVED", Align::right},
                                 {"DURATION", Align::right}};
  std::vector<std::vector<Cell>> rows;
  for (const Json& e : entries) {
    std::string outcome = e.value("decision", std::string("-"));
    std::string request = e.value("method", std::string());
    if (!request.empty()) request += " " + e.value("url", std::string());
    if (request.empty()) request = e.value("scheme", std::string("-"));
    int status = e.value("status", 0);
    bool good = outcome == "allowed";
    rows.push_back({{relative_time(e.value("time", Json()), now)},
                    {e.value("sandbox_id", std::string("-"))},
                    {outcome, console.color_out() ? (good ? "32" : "31") : ""},
                    {e.value("host", std::string("-"))},
                    {request},
                    {status ? std::to_string(status) : "-"},
                    {format_size(e.value("bytes_sent", Json(0)))},
                    {format_size(e.value("bytes_received", Json(0)))},
                    {fmt::format("{} ms", e.value("duration_ms", 0))}});
  }
  console.out(format_table(columns, rows, console.width, console.color_out()));
  return exit_ok;
}

int stats(const Command& cmd, const ApiClient& api, const Console& console) {
  int rc = exit_ok;
  auto answer = call_for_text(cmd, api, console, &rc);
  if (!answer) return rc;
  auto line = [&](const std::string& who, const Json& c) {
    Json n = c.value("connections", Json::object());
    return std::vector<Cell>{{who},
                             {std::to_string(n.value("allowed", 0ull))},
                             {std::to_string(n.value("denied", 0ull) + n.value("failed", 0ull))},
                             {std::to_string(n.value("refused", 0ull))},
                             {format_size(c.value("bytes_sent", Json(0)))},
                             {format_size(c.value("bytes_received", Json(0)))}};
  };
  std::vector<Column> columns = {{"SANDBOX", Align::left, false}, {"ALLOWED", Align::right}, {"DENIED/FAILED", Align::right},
                                 {"REFUSED", Align::right},       {"SENT", Align::right},    {"RECEIVED", Align::right}};
  std::vector<std::vector<Cell>> rows;
  rows.push_back(line("(all)", answer->value("total", Json::object())));
  if (auto sb = answer->find("sandboxes"); sb != answer->end() && sb->is_object())
    for (auto& [id, c] : sb->items()) rows.push_back(line(id, c));
  console.out(fmt::format("Gateway {}, {} open connections\n", answer->value("ready", false) ? "ready" : "not ready (closed)",
                          answer->value("active_connections", 0)));
  console.out(format_table(columns, rows, console.width, console.color_out()));
  return exit_ok;
}

}  // namespace

int run_egress_command(const Command& cmd, const ApiClient& api, const Console& console) {
  switch (cmd.id) {
    case CommandId::egress_audit: return audit(cmd, api, console);
    case CommandId::egress_stats: return stats(cmd, api, console);
    default: return policy(cmd, api, console);
  }
}

}  // namespace nexus::cli
