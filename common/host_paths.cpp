// SPDX-License-Identifier: Apache-2.0
// Locating nexusd's helper programs and guest images.
#include "common/host_paths.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "common/strings.hpp"
#include "common/bounded_run.hpp"
#include "nexus_config.h"

namespace nexus {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kPrintPathTimeoutMs = 5000;

std::string from_env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : std::string();
}

// The directory holding the running program (nexusd, nexus), if it can be read.
fs::path exe_dir() {
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}

bool path_exists(const fs::path& p) {
  std::error_code ec;
  return !p.empty() && fs::exists(p, ec);
}

std::string libexec(const char* name) { return std::string(NEXUS_LIBEXECDIR) + "/nexus/" + name; }

// <build>/daemon/nexusd (or <build>/cli/nexus) -> <build>/<rel>
std::string in_build_tree(const std::string& rel) {
  auto dir = exe_dir();
  if (dir.empty()) return {};
  auto p = dir.parent_path() / rel;
  return path_exists(p) ? p.string() : std::string();
}

}  // namespace

std::string absolute_path(const std::string& path) {
  std::error_code ec;
  auto abs = fs::absolute(path, ec);
  return ec ? path : abs.lexically_normal().string();
}

std::string find_agent(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (auto env = from_env("NEXUS_AGENT"); !env.empty()) return env;
  if (auto p = in_build_tree("guest-agent/nexus-agent"); !p.empty()) return p;
  if (auto beside = exe_dir() / "nexus-agent"; path_exists(beside)) return beside.string();
  return libexec("nexus-agent");
}

std::string find_vmm(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (auto env = from_env("NEXUS_VMM"); !env.empty()) return env;
  if (auto p = in_build_tree("vmm/nexus-vmm"); !p.empty()) return p;
  return libexec("nexus-vmm");
}

std::string find_agent_initrd(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (auto env = from_env("NEXUS_AGENT_INITRD"); !env.empty()) return env;
  if (auto p = in_build_tree("guest-agent/agent-initrd.cpio"); !p.empty()) return p;
  return libexec("agent-initrd.cpio");
}

std::string find_guest_kernel(const std::string& flag, const std::string& root_dir, const std::string& cache_dir) {
  if (!flag.empty()) return flag;
  if (auto env = from_env("NEXUS_GUEST_KERNEL"); !env.empty()) return env;
  std::string fixed = root_dir + "/guest/vmlinux";
  if (path_exists(fixed)) return fixed;
  // The build tree is normally a direct child of the source tree (build/, build-x/).
  std::vector<std::string> scripts;
  if (auto dir = exe_dir(); !dir.empty())
    scripts.push_back((dir.parent_path().parent_path() / "packaging/guest-kernel/build-guest-kernel").string());
  scripts.push_back(libexec("build-guest-kernel"));
  for (const auto& script : scripts) {
    if (::access(script.c_str(), X_OK) != 0) continue;
    auto run = run_bounded({script, "--print-path", "--cache-dir", cache_dir}, kPrintPathTimeoutMs);
    if (!run || run->timed_out) continue;
    // Exit 0: the cached kernel exists; 1: it is not built, but the path it would have is
    // the most useful one to report.
    auto lines = split(run->out, '\n');
    for (auto it = lines.rbegin(); it != lines.rend(); ++it)
      if (auto l = trim(*it); !l.empty() && l.front() == '/') return std::string(l);
  }
  return fixed;
}

}  // namespace nexus
