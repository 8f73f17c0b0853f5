// SPDX-License-Identifier: Apache-2.0
// `nexus template ...`: list, build (followed like build-watch), show, rm.
#include <fmt/format.h>

#include "cli/build_watch.hpp"
#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"
#include "cli/template_context.hpp"
#include "common/strings.hpp"

namespace nexus::cli {

namespace {

int list(const Command& cmd, const ApiClient& api, const Console& console) {
  auto answer = api.call(cmd.request);
  if (!answer) return report_failure(console, answer.error(), cmd.socket, false);
  Json templates = array_member(*answer, "templates");
  if (cmd.json) {
    console.out(json_text(templates));
    return exit_ok;
  }
  if (cmd.quiet) {
    for (const Json& t : templates) console.out(field_text(t, "name") + "\n");
    return exit_ok;
  }
  int64_t now = console.now();
  std::vector<Column> columns = {{"NAME", Align::left, false}, {"STATUS"},
                                 {"SIZE", Align::right, false}, {"BUILT"}};
  std::vector<std::vector<Cell>> rows;
  for (const Json& t : templates) {
    std::string status = field_text(t, "status");
    rows.push_back({{field_text(t, "name")},
                    {status, status_color(status)},
                    {format_size(t.value("size_bytes", Json()))},
                    {relative_time(t.value("built_at", Json()), now)}});
  }
  console.out(format_table(columns, rows, console.width, console.color_out()));
  return exit_ok;
}

/// `template build NAME [-f FILE]`: start the build (POST /v1/templates with the Nexusfile and
/// its context, or POST /v1/templates/NAME/build for a seeded template), then follow its events.
int build(const Command& cmd, const ApiClient& api, const Console& console) {
  ApiRequest req = cmd.request;
  if (!cmd.context_dir.empty()) {
    auto tar = pack_context(cmd.context_dir);
    if (!tar) {
      console.err(fmt::format("nexus: packing the build context: {}\n", tar.error().message()));
      return exit_failed;
    }
    (*req.body)["context"] = base64_encode(*tar);
  }
  auto started = api.call(req);
  if (!started) return report_failure(console, started.error(), cmd.socket, false);
  std::string id = field_text(*started, "build_id");
  if (cmd.detach) {
    console.out(cmd.json ? json_line(*started) : id + "\n");
    return exit_ok;
  }
  return follow_build(cmd, api, console, id);
}

int show(const Command& cmd, const ApiClient& api, const Console& console) {
  int rc = exit_ok;
  auto answer = call_for_text(cmd, api, console, &rc);
  if (!answer) return rc;
  const Json& t = *answer;
  std::string out = fmt::format("Name:     {}\nStatus:   {}\n", field_text(t, "name"), field_text(t, "status"));
  if (t.contains("build_id")) out += fmt::format("Build:    {} (nexus template watch {})\n", field_text(t, "build_id"), field_text(t, "name"));
  if (auto b = t.find("base"); b != t.end() && b->is_object()) {
    if (b->value("type", "") == "image")
      out += fmt::format("Base:     {} ({})\n", b->value("reference", ""), b->value("manifest_digest", ""));
    else
      out += fmt::format("Base:     debian:{}\n", b->value("suite", ""));
  }
  if (t.contains("built_at")) out += fmt::format("Built:    {} ({})\n", field_text(t, "built_at"), format_size(t.value("size_bytes", Json())));
  Json d = t.value("defaults", Json::object());
  auto line = [&](const char* label, const char* key) {
    if (d.contains(key)) out += fmt::format("{:<10}{}\n", label, d[key].is_string() ? d[key].get<std::string>() : dump_json(d[key]));
  };
  line("CPUs:", "cpus");
  line("Memory:", "memory_mib");
  line("TTL:", "ttl_seconds");
  line("User:", "user");
  line("Workdir:", "workdir");
  line("Command:", "start_command");
  line("Restart:", "restart");
  if (d.contains("env") && d["env"].is_object() && !d["env"].empty()) {
    out += "Env:\n";
    for (auto& [k, v] : d["env"].items()) out += fmt::format("  {}={}\n", k, v.is_string() ? v.get<std::string>() : dump_json(v));
  }
  console.out(out);
  return exit_ok;
}

int remove(const Command& cmd, const ApiClient& api, const Console& console) {
  auto answer = api.call(cmd.request);
  if (!answer) return report_failure(console, answer.error(), cmd.socket, false);
  if (!cmd.quiet) console.out(fmt::format("Removed template: {}\n", cmd.subject));
  return exit_ok;
}

}  // namespace

int run_template_command(const Command& cmd, const ApiClient& api, const Console& console) {
  if (cmd.id == CommandId::template_build)
    return build(cmd, api, console);
  if (cmd.id == CommandId::template_show) return show(cmd, api, console);
  if (cmd.id == CommandId::template_rm) return remove(cmd, api, console);
  return list(cmd, api, console);
}

}  // namespace nexus::cli
