// SPDX-License-Identifier: Apache-2.0
// `nexus doctor`: ask nexusd for its host report (GET /v1/host), or probe locally when it is
// down, and print the checks.
#include "cli/commands.hpp"
#include "cli/doctor.hpp"
#include "cli/exit_codes.hpp"
#include "cli/local_probe.hpp"

namespace nexus::cli {

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
  } else {
    source.daemon_error = version.error().message;
    host = local_host_report(source.local_note);
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
