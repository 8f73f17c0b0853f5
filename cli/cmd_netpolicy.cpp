// SPDX-License-Identifier: Apache-2.0
// `nexus netpolicy add|list|rm|stats`: a sandbox's L3/L4 network rules and their counters.
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"

namespace nexus::cli {
namespace {

std::string rule_cidr(const Json& r) { return r.value("cidr", std::string("any")); }

std::vector<Column> rule_columns() {
  return {{"ID", Align::left, false}, {"DIRECTION"}, {"ACTION"}, {"CIDR", Align::left, false},
          {"PROTO"},                  {"PORTS"},     {"PRIORITY", Align::right}};
}

std::vector<Cell> rule_row(const Json& r, bool color) {
  std::string action = field_text(r, "action");
  return {{field_text(r, "id")},
          {field_text(r, "direction")},
          {action, color ? (action == "allow" ? "32" : "31") : ""},
          {rule_cidr(r)},
          {r.value("protocol", std::string("any"))},
          {r.value("ports", std::string("any"))},
          {std::to_string(r.value("priority", 1000))}};
}

int add(const Command& cmd, const ApiClient& api, const Console& console) {
  auto answer = api.call(cmd.request);
  if (!answer) return report_failure(console, answer.error(), cmd.socket, false);
  if (cmd.json) console.out(json_text(*answer));
  else if (cmd.quiet) console.out(field_text(*answer, "id") + "\n");
  else
    console.out(fmt::format("Added rule {} to {}: {} {} {} {} ports {}\n", field_text(*answer, "id"), cmd.subject,
                            field_text(*answer, "direction"), field_text(*answer, "action"), rule_cidr(*answer),
                            answer->value("protocol", std::string("any")), answer->value("ports", std::string("any"))));
  return exit_ok;
}

int list(const Command& cmd, const ApiClient& api, const Console& console) {
  int rc = exit_ok;
  auto answer = call_for_text(cmd, api, console, &rc);
  if (!answer) return rc;
  std::string addr = answer->value("address", std::string());
  console.out(fmt::format("Sandbox {}: {} (gateway and DNS {}), policy backend {}{}\n", cmd.subject,
                          addr.empty() ? "no network of its own" : addr, answer->value("gateway", std::string("-")),
                          answer->value("backend", std::string("-")),
                          answer->value("default_deny", true) ? ", private ranges denied by default" : ""));
  for (const char* key : {"allow_domains", "deny_domains"}) {
    Json d = array_member(*answer, key);
    if (d.empty()) continue;
    std::string text;
    for (const Json& x : d) text += (text.empty() ? "" : ", ") + x.get<std::string>();
    console.out(fmt::format("{} domains (HTTP and TLS): {}\n", std::string_view(key) == "allow_domains" ? "Allowed" : "Denied",
                            text));
  }
  Json rules = array_member(*answer, cmd.all ? "effective" : "rules");
  if (rules.empty()) {
    console.out("No rules of its own.\n");
    return exit_ok;
  }
  std::vector<std::vector<Cell>> rows;
  for (const Json& r : rules) rows.push_back(rule_row(r, console.color_out()));
  console.out(format_table(rule_columns(), rows, console.width, console.color_out()));
  return exit_ok;
}

int rm(const Command& cmd, const ApiClient& api, const Console& console) {
  auto answer = api.call(cmd.request);
  if (!answer) return report_failure(console, answer.error(), cmd.socket, false);
  Json removed = answer->value("removed", Json::object());
  if (cmd.json) console.out(json_text(*answer));
  else if (cmd.quiet) console.out(field_text(removed, "id") + "\n");
  else console.out(fmt::format("Removed rule {} from {}\n", field_text(removed, "id"), cmd.subject));
  return exit_ok;
}

int stats(const Command& cmd, const ApiClient& api, const Console& console) {
  int rc = exit_ok;
  auto answer = call_for_text(cmd, api, console, &rc);
  if (!answer) return rc;
  std::vector<Column> columns = {{"RULE", Align::left, false}, {"DIRECTION"}, {"PACKETS", Align::right},
                                 {"BYTES", Align::right}};
  std::vector<std::vector<Cell>> rows;
  for (const Json& r : array_member(*answer, "rules"))
    rows.push_back({{field_text(r, "id")},
                    {field_text(r, "direction")},
                    {std::to_string(r.value("packets", 0ull))},
                    {format_size(r.value("bytes", Json(0)))}});
  console.out(fmt::format("Policy backend {} on {}\n", answer->value("backend", std::string("-")),
                          answer->value("interface", std::string("-"))));
  console.out(format_table(columns, rows, console.width, console.color_out()));
  return exit_ok;
}

}  // namespace

int run_netpolicy_command(const Command& cmd, const ApiClient& api, const Console& console) {
  switch (cmd.id) {
    case CommandId::netpolicy_add: return add(cmd, api, console);
    case CommandId::netpolicy_rm: return rm(cmd, api, console);
    case CommandId::netpolicy_stats: return stats(cmd, api, console);
    default: return list(cmd, api, console);
  }
}

}  // namespace nexus::cli
