// SPDX-License-Identifier: Apache-2.0
// nexus doctor: checks from the host report.
#include "cli/doctor.hpp"

#include <fmt/format.h>

#include "cli/output.hpp"

namespace nexus::cli {
namespace {

const Json& member(const Json& obj, const char* key) {
  static const Json none;
  if (!obj.is_object()) return none;
  auto it = obj.find(key);
  return it == obj.end() ? none : *it;
}

std::string str(const Json& obj, const char* key) {
  const Json& v = member(obj, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

bool flag(const Json& obj, const char* key) {
  const Json& v = member(obj, key);
  return v.is_boolean() && v.get<bool>();
}

std::string number(const Json& obj, const char* key, int precision) {
  const Json& v = member(obj, key);
  if (!v.is_number()) return {};
  return fmt::format("{:.{}f}", v.get<double>(), precision);
}

DoctorCheck file_check(const Json& host, const char* key, const char* name, const char* missing_hint) {
  const Json& f = member(host, key);
  std::string path = str(f, "path");
  if (flag(f, "present")) return {name, "ok", path};
  return {name, "warn", fmt::format("not found at '{}'{}", path.empty() ? "?" : path, missing_hint)};
}

std::string probe_figures(const Json& probe) {
  if (!flag(probe, "ran")) return str(probe, "reason").empty() ? "the probe did not run" : str(probe, "reason");
  std::vector<std::string> parts;
  if (auto g = number(probe, "ns_per_iteration", 1); !g.empty()) parts.push_back(g + " ns per guest iteration");
  if (auto n = number(probe, "native_ns_estimate", 2); !n.empty()) parts.push_back(n + " ns native");
  if (auto s = number(probe, "slowdown", 0); !s.empty()) parts.push_back(s + "x");
  std::string text = parts.empty() ? std::string("no figures") : parts[0];
  for (size_t i = 1; i < parts.size(); ++i) text += ", " + parts[i];
  const Json& code = member(probe, "exit_code");
  if (code.is_number_integer()) text += fmt::format(" (exit status {}", code.get<long long>());
  const Json& ms = member(probe, "duration_ms");
  if (code.is_number_integer()) text += ms.is_number_integer() ? fmt::format(", {} ms)", ms.get<long long>()) : ")";
  return text;
}

}  // namespace

std::vector<DoctorCheck> doctor_checks(const Json& host, const DoctorSource& source) {
  std::vector<DoctorCheck> checks;
  if (source.daemon_reachable) {
    checks.push_back({"nexusd", "ok", fmt::format("nexusd {} answers on {}", source.daemon_version, source.socket)});
  } else {
    std::string detail = fmt::format("cannot reach nexusd at {}: {}", source.socket, source.daemon_error);
    if (!source.local_note.empty()) detail += "; " + source.local_note;
    checks.push_back({"nexusd", "fail", detail});
  }
  if (!host.is_object()) return checks;
  const Json& microvm = member(host, "microvm");
  const Json& probe = member(host, "probe");
  if (flag(microvm, "available")) {
    checks.push_back({"microvm", "ok", "microVMs can run here at hardware speed"});
  } else {
    std::string why = str(microvm, "reason");
    checks.push_back({"microvm", "warn", "microVMs cannot run here: " + (why.empty() ? std::string("unknown") : why)});
  }
  if (!probe.is_null()) {
    std::string status = flag(probe, "usable") ? "ok" : "warn";
    checks.push_back({"kvm probe", status, probe_figures(probe)});
  }
  checks.push_back(file_check(host, "vmm", "nexus-vmm", " (nexusd --vmm)"));
  checks.push_back(file_check(host, "guest_kernel", "guest kernel",
                              " (packaging/guest-kernel/build-guest-kernel, or nexusd --guest-kernel)"));
  checks.push_back(file_check(host, "agent_initrd", "agent initrd", " (nexusd --agent-initrd)"));
  const Json& cg = member(member(host, "cgroup"), "version");
  if (cg.is_number_integer())
    checks.push_back({"cgroup", "ok", fmt::format("cgroup v{}", cg.get<long long>())});
  else
    checks.push_back({"cgroup", "warn", "cgroup version unknown"});
  const Json& iso = member(host, "isolation");
  std::string def = str(iso, "default");
  if (def == "microvm" && !flag(microvm, "available"))
    checks.push_back({"default isolation", "fail", "nexusd --isolation microvm, but microVMs cannot run here: creates fail"});
  else if (!def.empty())
    checks.push_back({"default isolation", "ok", fmt::format("{} (nexusd --isolation)", def)});
  return checks;
}

std::string doctor_summary(const Json& host) {
  const Json& iso = member(host, "isolation");
  std::string explanation = str(iso, "explanation");
  if (explanation.empty()) return "isolation: unknown (no report from nexusd or a local probe)";
  return "isolation: " + explanation;
}

std::string format_doctor(const std::vector<DoctorCheck>& checks, const std::string& summary, bool color) {
  size_t width = 0;
  for (const auto& c : checks) width = std::max(width, c.name.size());
  std::string out;
  for (const auto& c : checks) {
    std::string sgr = c.status == "ok" ? "32" : c.status == "warn" ? "33" : "31";
    std::string tag = colorize(fmt::format("{:<4}", c.status), sgr, color);
    out += fmt::format("{}  {:<{}}  {}\n", tag, c.name, width, c.detail);
  }
  out += summary + "\n";
  return out;
}

bool any_failed(const std::vector<DoctorCheck>& checks) {
  for (const auto& c : checks)
    if (c.status == "fail") return true;
  return false;
}

Json doctor_json(const Json& host, const DoctorSource& source, const std::vector<DoctorCheck>& checks,
                 const std::string& summary) {
  Json list = Json::array();
  for (const auto& c : checks) list.push_back({{"name", c.name}, {"status", c.status}, {"detail", c.detail}});
  Json daemon = {{"reachable", source.daemon_reachable}, {"socket", source.socket}};
  if (source.daemon_reachable) daemon["version"] = source.daemon_version;
  else daemon["error"] = source.daemon_error;
  Json out = {{"daemon", daemon},
              {"source", source.daemon_reachable ? "nexusd" : source.local_note.empty() ? "none" : "local probe"},
              {"host", host.is_object() ? host : Json(nullptr)},
              {"checks", list},
              {"summary", summary},
              {"ok", !any_failed(checks)}};
  if (!source.local_note.empty()) out["note"] = source.local_note;
  return out;
}

}  // namespace nexus::cli
