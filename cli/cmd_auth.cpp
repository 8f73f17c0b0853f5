// SPDX-License-Identifier: Apache-2.0
// `nexus auth key create|list|revoke`: API keys for the E2B endpoint.
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"

namespace nexus::cli {
namespace {

int create(const Command& cmd, const ApiClient& api, const Console& console) {
  auto answer = api.call(cmd.request);
  if (!answer) return report_failure(console, answer.error(), cmd.socket, false);
  if (cmd.json) {
    console.out(json_text(*answer));
  } else if (cmd.quiet) {
    console.out(field_text(*answer, "key") + "\n");
  } else {
    console.out(field_text(*answer, "key") + "\n");
    console.err(fmt::format("Created API key {} for user {}{}. Keep it now: nexusd stores only its hash.\n",
                            field_text(*answer, "id"), field_text(*answer, "user"),
                            answer->value("admin", false) ? " (admin)" : ""));
  }
  return exit_ok;
}

int list(const Command& cmd, const ApiClient& api, const Console& console) {
  auto answer = api.call(cmd.request);
  if (!answer) return report_failure(console, answer.error(), cmd.socket, false);
  Json keys = array_member(*answer, "keys");
  if (cmd.json) {
    console.out(json_text(Json{{"keys", keys}}));
    return exit_ok;
  }
  if (cmd.quiet) {
    for (const Json& k : keys) console.out(field_text(k, "id") + "\n");
    return exit_ok;
  }
  int64_t now = console.now();
  std::vector<Column> columns = {{"ID", Align::left, false}, {"USER"}, {"NAME"}, {"ADMIN"},
                                 {"PREFIX", Align::left, false}, {"CREATED"}, {"LAST USED"}};
  std::vector<std::vector<Cell>> rows;
  for (const Json& k : keys) {
    rows.push_back({{field_text(k, "id")},
                    {field_text(k, "user")},
                    {k.value("name", std::string()).empty() ? "-" : field_text(k, "name")},
                    {k.value("admin", false) ? "yes" : "no"},
                    {field_text(k, "prefix") + "…"},
                    {relative_time(k.value("created_at", Json()), now)},
                    {relative_time(k.value("last_used_at", Json()), now)}});
  }
  console.out(format_table(columns, rows, console.width, console.color_out()));
  return exit_ok;
}

int revoke(const Command& cmd, const ApiClient& api, const Console& console) {
  auto answer = api.call(cmd.request);
  if (!answer) return report_failure(console, answer.error(), cmd.socket, false);
  if (cmd.json) console.out(json_text(*answer));
  else if (cmd.quiet) console.out(field_text(*answer, "id") + "\n");
  else console.out(fmt::format("Revoked API key {}\n", field_text(*answer, "id")));
  return exit_ok;
}

}  // namespace

int run_auth_command(const Command& cmd, const ApiClient& api, const Console& console) {
  switch (cmd.id) {
    case CommandId::auth_key_create: return create(cmd, api, console);
    case CommandId::auth_key_revoke: return revoke(cmd, api, console);
    default: return list(cmd, api, console);
  }
}

}  // namespace nexus::cli
