// SPDX-License-Identifier: Apache-2.0
// nexus doctor: checks from the host report.
#include "cli/doctor.hpp"

#include <cstdio>

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

std::string gib(uint64_t bytes) { return fmt::format("{:.1f} GiB", static_cast<double>(bytes) / (1ull << 30)); }

constexpr uint64_t kDiskWarnBytes = 5ull << 30;   // a template and a few sandboxes
constexpr uint64_t kDiskFailBytes = 1ull << 30;

/// Kernel "6.1.0-27-amd64" -> {6, 1}; {0, 0} when unreadable.
std::pair<int, int> kernel_version(const std::string& release) {
  int major = 0, minor = 0;
  if (std::sscanf(release.c_str(), "%d.%d", &major, &minor) < 2) return {0, 0};
  return {major, minor};
}

void system_checks(const Json& sys, std::vector<DoctorCheck>& checks) {
  if (!sys.is_object()) return;
  const Json& k = member(sys, "kernel");
  std::string release = str(k, "release");
  auto [major, minor] = kernel_version(release);
  if (major == 0)
    checks.push_back({"kernel", "warn", "kernel version unknown"});
  else if (major < 5 || (major == 5 && minor < 10))
    checks.push_back({"kernel", "fail", fmt::format("Linux {}: Nexus needs 5.10 or later (openat2, overlayfs in user namespaces); "
                                                    "install a newer kernel (Debian 12: linux-image-amd64)", release)});
  else
    checks.push_back({"kernel", "ok", fmt::format("Linux {} {}", release, str(k, "machine"))});

  const Json& cg = member(sys, "cgroup");
  std::vector<std::string> missing;
  for (const Json& m : member(cg, "missing"))
    if (m.is_string()) missing.push_back(m.get<std::string>());
  std::string have;
  for (const Json& c : member(cg, "controllers"))
    if (c.is_string()) have += (have.empty() ? "" : " ") + c.get<std::string>();
  const Json& ver = member(cg, "version");
  std::string v = ver.is_number_integer() ? fmt::format("cgroup v{}{}", ver.get<long long>(), flag(cg, "hybrid") ? " (hybrid)" : "") : "cgroup";
  if (missing.empty())
    checks.push_back({"cgroups", "ok", fmt::format("{}: {}", v, have)});
  else
    checks.push_back({"cgroups", "fail", fmt::format("{}: missing controller{} {}: sandboxes cannot be limited; mount {} (v1) or enable "
                                                     "{} in cgroup.subtree_control (v2)", v, missing.size() > 1 ? "s" : "",
                                                     fmt::join(missing, ", "), missing.size() > 1 ? "them" : "it",
                                                     missing.size() > 1 ? "them" : "it")});

  const Json& u = member(sys, "userns");
  if (flag(u, "available"))
    checks.push_back({"user namespaces", "ok", fmt::format("available (user.max_user_namespaces = {})", member(u, "max").is_number() ? member(u, "max").dump() : "?")});
  else
    checks.push_back({"user namespaces", "fail", "unavailable: " + str(u, "reason") + "; the jail needs them"});

  const Json& b = member(sys, "ebpf");
  if (flag(b, "available"))
    checks.push_back({"ebpf", "ok", "TC classifier programs load (for sandbox network policy)"});
  else
    checks.push_back({"ebpf", "warn", str(b, "reason") + "; network policy would use the nftables backend"});
  const Json& btf = member(sys, "btf");
  if (flag(btf, "available"))
    checks.push_back({"btf", "ok", str(btf, "path")});
  else
    checks.push_back({"btf", "warn", fmt::format("no {}: the kernel has no BTF (CONFIG_DEBUG_INFO_BTF); eBPF programs "
                                                 "that need it cannot load", str(btf, "path"))});
  const Json& nft = member(sys, "nftables");
  if (flag(nft, "available"))
    checks.push_back({"nftables", "ok", fmt::format("{} (kernel nf_tables {})", str(nft, "nft"), str(nft, "kernel"))});
  else
    checks.push_back({"nftables", "warn", str(nft, "reason")});

  const Json& d = member(sys, "disk");
  const Json& free = member(d, "free_bytes");
  const Json& total = member(d, "total_bytes");
  if (!free.is_number_unsigned() || !total.is_number_unsigned()) {
    checks.push_back({"disk", "warn", fmt::format("cannot measure {}: {}", str(d, "path"), str(d, "error"))});
  } else {
    uint64_t f = free.get<uint64_t>();
    std::string text = fmt::format("{} free of {} at {}", gib(f), gib(total.get<uint64_t>()), str(d, "path"));
    if (f < kDiskFailBytes)
      checks.push_back({"disk", "fail", text + ": builds and new sandboxes will fail; free space (nexus image rm, nexus template rm)"});
    else if (f < kDiskWarnBytes)
      checks.push_back({"disk", "warn", text + ": less than 5 GiB; a template takes about 0.4 GiB, each sandbox its writes"});
    else
      checks.push_back({"disk", "ok", text});
  }
}

// nexusd's own network report (absent from the local report when nexusd is down).
void network_check(const Json& net, std::vector<DoctorCheck>& checks) {
  if (!net.is_object()) return;
  std::string backend = str(net, "backend");
  std::string reason = str(net, "reason");
  if (backend.empty()) {
    checks.push_back({"network", "fail", "no policy backend: " + reason +
                                             "; sandboxes with a network are refused (--no-network still works)"});
    return;
  }
  std::string pool6 = str(net, "pool6");
  std::string text = fmt::format("policy backend {} ({}); pool {}{}; firewall table inet {}", backend, reason,
                                 str(net, "pool"), pool6.empty() ? " (IPv4 only)" : " and " + pool6,
                                 str(net, "firewall_table"));
  checks.push_back({"network", backend == "none" ? "warn" : "ok", text});
  if (auto advice = str(member(net, "forwarding"), "advice"); !advice.empty())
    checks.push_back({"forwarding", "warn", advice});
  checks.push_back({"dns", member(net, "dns").value("running", false) ? "ok" : "warn",
                    member(net, "dns").value("running", false)
                        ? fmt::format("forwarder on port {}", member(net, "dns").value("port", 0))
                        : "the DNS forwarder is not running: sandboxes cannot resolve names"});
}

void template_check(const Json& templates, std::vector<DoctorCheck>& checks) {
  if (!templates.is_array()) return;
  size_t ready = 0;
  bool default_ready = false;
  for (const Json& t : templates) {
    bool ok = str(t, "status") == "ready";
    ready += ok;
    if (ok && str(t, "name") == "ai-agent-default") default_ready = true;
  }
  if (default_ready)
    checks.push_back({"templates", "ok", fmt::format("ai-agent-default ready ({} of {} templates built)", ready, templates.size())});
  else
    checks.push_back({"templates", "warn", fmt::format("the default template ai-agent-default is not built ({} of {} built): "
                                                       "nexus template build ai-agent-default", ready, templates.size())});
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
  system_checks(member(host, "system"), checks);
  network_check(member(host, "network"), checks);
  template_check(source.templates, checks);
  if (!host.contains("microvm")) return checks;  // no KVM probe (a local report without /dev/kvm)
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
