// SPDX-License-Identifier: Apache-2.0
// Parsing and running the host probe.
#include "daemon/microvm/probe.hpp"

#include <cmath>

#include <fmt/format.h>

#include "common/strings.hpp"
#include "common/bounded_run.hpp"

namespace nexus::microvm {
namespace {

std::optional<double> number_field(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  double v = it->get<double>();
  if (!std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<bool> bool_field(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_boolean()) return std::nullopt;
  return it->get<bool>();
}

// The verdict object: the whole output, else the last line that is a JSON object (a probe
// may print progress lines before it).
std::optional<Json> find_verdict(std::string_view out) {
  if (auto j = parse_json(out); j && j->is_object()) return *j;
  auto lines = split(std::string(out), '\n');
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    auto line = trim(*it);
    if (line.empty()) continue;
    if (auto j = parse_json(line); j && j->is_object()) return *j;
  }
  return std::nullopt;
}

std::string last_line(const std::string& text) {
  auto lines = split(text, '\n');
  for (auto it = lines.rbegin(); it != lines.rend(); ++it)
    if (auto l = trim(*it); !l.empty()) return std::string(l);
  return {};
}

}  // namespace

ProbeResult parse_probe_output(std::string_view out, int exit_code) {
  ProbeResult p;
  p.exit_code = exit_code;
  auto verdict = find_verdict(out);
  bool known_exit = exit_code == kProbeUsable || exit_code == kProbeEmulated || exit_code == kProbeNoKvm;
  p.ran = known_exit || verdict.has_value();
  if (verdict) {
    p.ns_per_iteration = number_field(*verdict, "ns_per_iteration");
    p.native_ns_estimate = number_field(*verdict, "native_ns_estimate");
    if (!p.native_ns_estimate) p.native_ns_estimate = number_field(*verdict, "native_ns_per_iteration");
    p.slowdown = number_field(*verdict, "slowdown");
    if (!p.slowdown && p.ns_per_iteration && p.native_ns_estimate && *p.native_ns_estimate > 0)
      p.slowdown = *p.ns_per_iteration / *p.native_ns_estimate;
    if (auto r = json_string(*verdict, "reason"); r) p.reason = std::string(trim(*r));
  }
  bool kvm_by_exit = known_exit && exit_code != kProbeNoKvm;
  p.kvm = verdict ? bool_field(*verdict, "kvm").value_or(kvm_by_exit) : kvm_by_exit;
  p.usable = exit_code == kProbeUsable && (!verdict || bool_field(*verdict, "usable").value_or(true));
  if (p.usable) p.kvm = true;
  if (p.reason.empty()) {
    if (p.usable) p.reason = "guest kernel code runs at hardware speed";
    else if (exit_code == kProbeNoKvm) p.reason = "/dev/kvm is missing or cannot run a VM";
    else if (exit_code == kProbeEmulated) p.reason = "/dev/kvm does not run guest kernel code at hardware speed";
    else p.reason = fmt::format("the probe gave no verdict (exit status {})", exit_code);
  }
  return p;
}

ProbeResult run_probe(const std::string& vmm_path, uint64_t timeout_ms) {
  ProbeResult p;
  auto run = run_bounded({vmm_path, "--probe", "--json"}, timeout_ms);
  if (!run) {
    p.reason = "cannot run the probe: " + run.error().message();
    return p;
  }
  if (run->timed_out) {
    p.reason = fmt::format("'{} --probe' did not finish within {} ms (killed)", vmm_path, timeout_ms);
    p.duration_ms = run->duration_ms;
    return p;
  }
  if (run->signal) {
    p.reason = fmt::format("'{} --probe' was killed by signal {}", vmm_path, run->signal);
    p.duration_ms = run->duration_ms;
    return p;
  }
  p = parse_probe_output(run->out, run->exit_code);
  p.duration_ms = run->duration_ms;
  if (!p.ran) {
    std::string why = last_line(run->err);
    p.reason = fmt::format("'{} --probe' failed (exit status {}){}", vmm_path, run->exit_code,
                           why.empty() ? "" : ": " + why);
  }
  return p;
}

std::string probe_verdict(const ProbeResult& p) {
  if (!p.usable && p.kvm && p.slowdown && *p.slowdown > 1.0)
    return fmt::format("/dev/kvm runs guest kernel code {:.0f}x slower than native (PVM or software emulation)",
                       *p.slowdown);
  return p.reason;
}

Json probe_to_json(const ProbeResult& p) {
  Json j = {{"ran", p.ran},   {"usable", p.usable}, {"kvm", p.kvm},
            {"exit_code", p.exit_code}, {"reason", p.reason}, {"duration_ms", p.duration_ms}};
  if (p.ns_per_iteration) j["ns_per_iteration"] = *p.ns_per_iteration;
  if (p.native_ns_estimate) j["native_ns_estimate"] = *p.native_ns_estimate;
  if (p.slowdown) j["slowdown"] = *p.slowdown;
  return j;
}

}  // namespace nexus::microvm
