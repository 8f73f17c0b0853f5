// SPDX-License-Identifier: Apache-2.0
// `nexus doctor`: ask nexusd for its host report (GET /v1/host), or probe locally when it is
// down, and print the checks.
#include <filesystem>

#include "cli/commands.hpp"
#include "cli/doctor.hpp"
#include "cli/exit_codes.hpp"
#include "cli/local_probe.hpp"

namespace nexus::cli {
namespace {

/// Without nexusd: the templates whose template.json is in <root>/templates, as "ready".
Json templates_on_disk(const std::string& root) {
  if (root.empty()) return nullptr;
  std::error_code ec;
  Json list = Json::array();
  for (const auto& e : std::filesystem::directory_iterator(root + "/templates", ec)) {
    std::string name = e.path().filename().string();
    if (name.empty() || name[0] == '.') continue;  // a build in progress
    bool built = std::filesystem::exists(e.path() / "template.json", ec);
    list.push_back(Json{{"name", name}, {"status", built ? "ready" : "not_built"}});
  }
  if (ec && list.empty()) return ec == std::errc::no_such_file_or_directory ? list : Json(nullptr);
  return list;
}

}  // namespace

int run_doctor_command(const Command& cmd, const ApiClient& api, const Console& console) {
  DoctorSource source;
  source.socket = cmd.socket;
  Json host;
  auto version = api.call(ApiRequest{"GET", "/v1/version", std::nullopt});
  if (version) {
    source.daemon_reachable = true;
    source.daemon_version = field_text(*version, "version");
    auto report = api.call(cmd.request);
    if (report) host = *report;
    else source.local_note = "nexusd gave no host report: " + report.error().message;
    if (auto t = api.call(ApiRequest{"GET", "/v1/templates", std::nullopt}); t && t->contains("templates"))
      source.templates = (*t)["templates"];
  } else {
    source.daemon_error = version.error().message;
    host = local_host_report(source.local_note);
    source.templates = templates_on_disk(field_text(host, "root_dir"));
  }
  auto checks = doctor_checks(host, source);
  if (source.daemon_reachable && !host.is_object())
    checks.push_back({"host report", "fail", source.local_note});
  std::string summary = doctor_summary(host);
  if (cmd.json) {
    console.out(json_text(doctor_json(host, source, checks, summary)));
  } else {
    console.out(format_doctor(checks, summary, console.color_out()));
    if (!source.daemon_reachable && !source.local_note.empty()) console.err("nexus: " + source.local_note + "\n");
  }
  if (!source.daemon_reachable) return exit_unreachable;
  return any_failed(checks) ? exit_failed : exit_ok;
}

}  // namespace nexus::cli
