// SPDX-License-Identifier: Apache-2.0
// The local host report: find nexus-vmm and the guest images as nexusd would by default,
// run the probe with a deadline.
#include "cli/local_probe.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "common/bounded_run.hpp"
#include "common/host_facts.hpp"
#include "common/host_paths.hpp"
#include "common/strings.hpp"
#include "common/unique_fd.hpp"

namespace nexus::cli {
namespace {

constexpr int kProbeTimeoutMs = 15000;

bool exists(const std::string& p) { return !p.empty() && ::access(p.c_str(), F_OK) == 0; }

struct ProbeRun {
  bool ran = false;
  int exit_code = -1;
  std::string out;
  std::string why_not;
};

/// common/bounded_run's outcome as the probe report wants it: ran, or why not.
ProbeRun run_for_report(const std::vector<std::string>& args, int timeout_ms) {
  ProbeRun r;
  auto run = run_bounded(args, static_cast<uint64_t>(timeout_ms));
  std::string what = args.size() > 1 ? fmt::format("'{} {}'", args[0], args[1]) : fmt::format("'{}'", args[0]);
  if (!run) r.why_not = run.error().message();
  else if (run->timed_out) r.why_not = fmt::format("{} did not finish within {} s (killed)", what, timeout_ms / 1000);
  else if (run->signal != 0) r.why_not = fmt::format("{} was killed by signal {}", what, run->signal);
  else {
    r.ran = true;
    r.exit_code = run->exit_code;
    r.out = std::move(run->out);
  }
  return r;
}

Json file_entry(const std::string& path) { return Json{{"path", path}, {"present", exists(path)}}; }

}  // namespace

Json probe_report(const std::string& out, int exit_code, bool ran, const std::string& why_not) {
  Json verdict;
  for (const auto& line : split(out, '\n')) {
    auto j = parse_json(trim(line));
    if (j && j->is_object()) verdict = *j;
  }
  Json p = {{"ran", ran && (exit_code >= 0 && exit_code <= 2)}, {"exit_code", exit_code}};
  bool usable = ran && exit_code == 0;
  if (verdict.is_object()) {
    if (verdict.contains("usable") && verdict["usable"].is_boolean()) usable = usable && verdict["usable"].get<bool>();
    for (const char* k : {"ns_per_iteration", "native_ns_estimate", "slowdown"})
      if (verdict.contains(k) && verdict[k].is_number()) p[k] = verdict[k];
    if (verdict.contains("kvm") && verdict["kvm"].is_boolean()) p["kvm"] = verdict["kvm"];
  }
  if (!p.contains("kvm")) p["kvm"] = ran && exit_code != 2;
  p["usable"] = usable;
  std::string reason = !ran ? why_not : verdict.is_object() && verdict.contains("reason") && verdict["reason"].is_string()
                                           ? verdict["reason"].get<std::string>() : std::string();
  if (ran && !usable && p["kvm"].get<bool>() && p.contains("slowdown") && p["slowdown"].get<double>() > 1.0)
    reason = fmt::format("/dev/kvm runs guest kernel code {:.0f}x slower than native (PVM or software emulation)",
                         p["slowdown"].get<double>());
  if (reason.empty()) reason = usable ? "guest kernel code runs at hardware speed"
                               : exit_code == 2 ? "/dev/kvm is missing or cannot run a VM"
                                                : fmt::format("the probe gave no verdict (exit status {})", exit_code);
  p["reason"] = reason;
  return p;
}

Json local_host_report(std::string& note) {
  const char* root_env = std::getenv("NEXUS_ROOT");
  std::string root = root_env && *root_env ? root_env : "/var/lib/nexus";
  Json system = host::system_facts(root);
  UniqueFd kvm(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
  if (!kvm) {
    note = fmt::format("nexusd is not running, and this user cannot open /dev/kvm ({}): host checks only; run nexus "
                       "doctor as root or start nexusd for the KVM probe", std::strerror(errno));
    return Json{{"system", system}, {"root_dir", root}};
  }
  kvm.reset();
  // Where nexusd would look without flags (common/host_paths.hpp).
  const char* cache = std::getenv("NEXUS_CACHE_DIR");
  std::string vmm = find_vmm("");
  std::string initrd = find_agent_initrd("");
  std::string kernel = find_guest_kernel("", root, cache && *cache ? cache : "/var/cache/nexus");
  ProbeRun run;
  if (::access(vmm.c_str(), X_OK) == 0) run = run_for_report({vmm, "--probe", "--json"}, kProbeTimeoutMs);
  else run.why_not = fmt::format("nexus-vmm is not installed at '{}'", vmm);
  Json probe = probe_report(run.out, run.exit_code, run.ran, run.why_not);
  note = "nexusd is not running: probed this host directly (paths are nexusd's defaults)";

  std::string why;
  if (!exists(vmm)) why = fmt::format("nexus-vmm is not installed (looked for '{}')", vmm);
  else if (!probe["usable"].get<bool>()) why = probe["reason"].get<std::string>();
  else if (!exists(kernel)) why = fmt::format("no guest kernel at '{}'", kernel);
  else if (!exists(initrd)) why = fmt::format("no agent initrd at '{}'", initrd);
  Json microvm = {{"available", why.empty()}};
  if (!why.empty()) microvm["reason"] = why;
  std::string explanation = why.empty() ? "auto -> microvm (" + probe["reason"].get<std::string>() + ")"
                                        : "auto -> jail, because " + why;
  return Json{{"isolation", {{"default", "auto"}, {"auto", why.empty() ? "microvm" : "jail"}, {"explanation", explanation}}},
              {"microvm", microvm},
              {"jail", {{"available", true}}},
              {"probe", probe},
              {"vmm", file_entry(vmm)},
              {"guest_kernel", file_entry(kernel)},
              {"agent_initrd", file_entry(initrd)},
              {"cgroup", {{"version", system["cgroup"]["version"]}}},
              {"system", system},
              {"root_dir", root}};
}

}  // namespace nexus::cli
