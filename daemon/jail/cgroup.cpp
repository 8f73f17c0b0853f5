// SPDX-License-Identifier: Apache-2.0
// Per-sandbox cgroups: limits, joining, freezing, killing, usage; cgroup v1 and v2 backends.
#include "daemon/jail/cgroup.hpp"

#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "daemon/jail/files.hpp"

namespace nexus::jail::detail {
namespace {

constexpr const char* kCgroupRoot = "/sys/fs/cgroup";
constexpr const char* kParent = "nexus";
constexpr uint64_t kCpuPeriodUs = 100000;
constexpr auto kFreezeTimeout = std::chrono::seconds(5);
constexpr auto kPollInterval = std::chrono::milliseconds(5);

std::vector<pid_t> parse_pids(const std::string& text) {
  std::vector<pid_t> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    if (eol > pos) out.push_back(static_cast<pid_t>(std::strtol(text.c_str() + pos, nullptr, 10)));
    pos = eol + 1;
  }
  return out;
}

// Whether the space-separated list `text` contains `word` ("cpu" must not match "cpuset").
bool has_word(const std::string& text, std::string_view word) {
  size_t pos = 0;
  while ((pos = text.find(word, pos)) != std::string::npos) {
    bool starts = pos == 0 || text[pos - 1] == ' ';
    size_t end = pos + word.size();
    bool ends = end == text.size() || text[end] == ' ' || text[end] == '\n';
    if (starts && ends) return true;
    pos = end;
  }
  return false;
}

Result<uint64_t> read_u64(const std::string& path) {
  auto text = read_file(path);
  if (!text) return fail(std::move(text).error());
  return std::strtoull(text->c_str(), nullptr, 10);
}

// A directory removal that waits out the short time a cgroup stays busy after its last
// task exited.
Result<void> remove_cgroup_dir(const std::string& dir) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (;;) {
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return {};
    if (errno != EBUSY || std::chrono::steady_clock::now() > deadline)
      return fail_errno(fmt::format("removing cgroup '{}'", dir));
    std::this_thread::sleep_for(kPollInterval);
  }
}

// Poll `path` until its content contains `want` or the freeze timeout passes.
Result<void> wait_for_content(const std::string& path, const std::string& want,
                              const std::string& what) {
  auto deadline = std::chrono::steady_clock::now() + kFreezeTimeout;
  for (;;) {
    auto text = read_file(path);
    if (!text) return fail(std::move(text).error());
    if (text->find(want) != std::string::npos) return {};
    if (std::chrono::steady_clock::now() > deadline)
      return fail(Errc::timeout, fmt::format("{}: '{}' did not reach '{}'", what, path, want));
    std::this_thread::sleep_for(kPollInterval);
  }
}

// ---- cgroup v1: one directory per controller hierarchy ----

class CgroupV1 final : public Cgroup {
 public:
  explicit CgroupV1(const std::string& id) {
    // cpu and cpuacct are often co-mounted (cpu -> cpu,cpuacct); keep each hierarchy once.
    std::vector<std::string> seen;
    for (const char* ctrl : {"memory", "pids", "cpu", "cpuacct", "freezer"}) {
      std::string base = fmt::format("{}/{}", kCgroupRoot, ctrl);
      char real[PATH_MAX];
      if (::realpath(base.c_str(), real) == nullptr) continue;  // controller not mounted
      if (std::find(seen.begin(), seen.end(), real) != seen.end()) continue;
      seen.emplace_back(real);
      dirs_.push_back({ctrl, base, fmt::format("{}/{}/{}", base, kParent, id)});
    }
  }

  Result<void> create(const Limits& limits) override {
    for (const char* required : {"memory", "pids", "freezer"}) {
      if (!dir_of(required))
        return fail(Errc::unavailable,
                    fmt::format("cgroup v1 controller '{}' is not mounted under {}", required,
                                kCgroupRoot));
    }
    for (const auto& d : dirs_) {
      NEXUS_TRY(make_dir(d.base + "/" + kParent, 0755));
      NEXUS_TRY(make_dir(d.dir, 0755));
    }
    if (const auto* mem = dir_of("memory")) {
      std::string v = limits.memory_bytes ? std::to_string(limits.memory_bytes) : "-1";
      NEXUS_TRY(write_file(mem->dir + "/memory.limit_in_bytes", v));
      // memory+swap gets the same limit, so swapping cannot be used to exceed it. Without
      // swap accounting the file is missing; then at least make the kernel avoid swap.
      std::string memsw = mem->dir + "/memory.memsw.limit_in_bytes";
      if (path_exists(memsw)) {
        NEXUS_TRY(write_file(memsw, v));
      } else {
        (void)write_file(mem->dir + "/memory.swappiness", "0");
      }
    }
    if (const auto* p = dir_of("pids")) {
      NEXUS_TRY(write_file(p->dir + "/pids.max",
                           limits.pids ? std::to_string(limits.pids) : std::string("max")));
    }
    if (const auto* c = dir_of("cpu"); c && path_exists(c->dir + "/cpu.cfs_quota_us")) {
      NEXUS_TRY(write_file(c->dir + "/cpu.cfs_period_us", std::to_string(kCpuPeriodUs)));
      std::string quota =
          limits.cpus > 0 ? std::to_string(static_cast<uint64_t>(limits.cpus) * kCpuPeriodUs)
                          : std::string("-1");
      NEXUS_TRY(write_file(c->dir + "/cpu.cfs_quota_us", quota));
    }
    return {};
  }

  std::vector<std::string> procs_files() const override {
    std::vector<std::string> out;
    for (const auto& d : dirs_) out.push_back(d.dir + "/cgroup.procs");
    return out;
  }

  bool exists() const override {
    return std::any_of(dirs_.begin(), dirs_.end(),
                       [](const Dir& d) { return path_exists(d.dir); });
  }

  Result<void> freeze() override {
    const Dir* f = dir_of("freezer");
    if (!f) return fail(Errc::unavailable, "cgroup v1 freezer is not mounted");
    std::string state = f->dir + "/freezer.state";
    NEXUS_TRY(write_file(state, "FROZEN"));
    // FREEZING means some task has not stopped yet; only FROZEN is a finished freeze.
    return wait_for_content(state, "FROZEN", "freezing");
  }

  Result<void> thaw() override {
    const Dir* f = dir_of("freezer");
    if (!f) return fail(Errc::unavailable, "cgroup v1 freezer is not mounted");
    std::string state = f->dir + "/freezer.state";
    NEXUS_TRY(write_file(state, "THAWED"));
    return wait_for_content(state, "THAWED", "thawing");
  }

  std::vector<pid_t> pids() const override {
    std::vector<pid_t> out;
    for (const auto& d : dirs_) {
      auto text = read_file(d.dir + "/cgroup.procs");
      if (!text) continue;
      for (pid_t p : parse_pids(*text))
        if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
    }
    return out;
  }

  void kill_all() override {
    for (pid_t p : pids())
      if (p > 0) (void)::kill(p, SIGKILL);
  }

  Result<void> remove() override {
    for (const auto& d : dirs_) NEXUS_TRY(remove_cgroup_dir(d.dir));
    return {};
  }

  Result<Usage> usage() const override {
    Usage u;
    if (const auto* m = dir_of("memory"))
      if (auto v = read_u64(m->dir + "/memory.usage_in_bytes")) u.memory_bytes = *v;
    if (const auto* p = dir_of("pids"))
      if (auto v = read_u64(p->dir + "/pids.current")) u.pids = *v;
    if (const auto* c = dir_of("cpuacct"))
      if (auto v = read_u64(c->dir + "/cpuacct.usage")) u.cpu_ns = *v;
    if (!exists()) return fail(Errc::not_found, "the sandbox has no cgroup");
    return u;
  }

 private:
  struct Dir {
    std::string controller;
    std::string base;  // hierarchy mount, e.g. /sys/fs/cgroup/memory
    std::string dir;   // the sandbox's cgroup in it
  };

  const Dir* dir_of(std::string_view ctrl) const {
    for (const auto& d : dirs_)
      if (d.controller == ctrl) return &d;
    return nullptr;
  }

  std::vector<Dir> dirs_;
};

// ---- cgroup v2: one directory in the unified hierarchy ----

class CgroupV2 final : public Cgroup {
 public:
  explicit CgroupV2(const std::string& id)
      : parent_(fmt::format("{}/{}", kCgroupRoot, kParent)), dir_(parent_ + "/" + id) {}

  Result<void> create(const Limits& limits) override {
    NEXUS_TRY(make_dir(parent_, 0755));
    // Controllers must be enabled top-down in subtree_control before the sandbox's cgroup
    // gets its interface files. nexus/ itself holds no process (no-internal-process rule).
    auto available = read_file(std::string(kCgroupRoot) + "/cgroup.controllers");
    if (!available) return fail(std::move(available).error());
    for (const char* ctrl : {"cpu", "memory", "pids"}) {
      if (!has_word(*available, ctrl)) continue;
      std::string enable = std::string("+") + ctrl;
      NEXUS_TRY(write_file(std::string(kCgroupRoot) + "/cgroup.subtree_control", enable));
      NEXUS_TRY(write_file(parent_ + "/cgroup.subtree_control", enable));
    }
    NEXUS_TRY(make_dir(dir_, 0755));
    if (path_exists(dir_ + "/memory.max")) {
      NEXUS_TRY(write_file(dir_ + "/memory.max", limits.memory_bytes
                                                     ? std::to_string(limits.memory_bytes)
                                                     : std::string("max")));
      // No swap at all: otherwise swap would extend the memory limit.
      if (path_exists(dir_ + "/memory.swap.max"))
        NEXUS_TRY(write_file(dir_ + "/memory.swap.max", "0"));
    } else if (limits.memory_bytes) {
      return fail(Errc::unavailable, "cgroup v2 memory controller is not available");
    }
    if (path_exists(dir_ + "/pids.max")) {
      NEXUS_TRY(write_file(dir_ + "/pids.max",
                           limits.pids ? std::to_string(limits.pids) : std::string("max")));
    } else if (limits.pids) {
      return fail(Errc::unavailable, "cgroup v2 pids controller is not available");
    }
    if (path_exists(dir_ + "/cpu.max")) {
      std::string quota =
          limits.cpus > 0 ? std::to_string(static_cast<uint64_t>(limits.cpus) * kCpuPeriodUs)
                          : std::string("max");
      NEXUS_TRY(write_file(dir_ + "/cpu.max", fmt::format("{} {}", quota, kCpuPeriodUs)));
    }
    return {};
  }

  std::vector<std::string> procs_files() const override { return {dir_ + "/cgroup.procs"}; }

  bool exists() const override { return path_exists(dir_); }

  Result<void> freeze() override {
    NEXUS_TRY(write_file(dir_ + "/cgroup.freeze", "1"));
    return wait_for_content(dir_ + "/cgroup.events", "frozen 1", "freezing");
  }

  Result<void> thaw() override {
    NEXUS_TRY(write_file(dir_ + "/cgroup.freeze", "0"));
    return wait_for_content(dir_ + "/cgroup.events", "frozen 0", "thawing");
  }

  std::vector<pid_t> pids() const override {
    auto text = read_file(dir_ + "/cgroup.procs");
    return text ? parse_pids(*text) : std::vector<pid_t>{};
  }

  void kill_all() override {
    // cgroup.kill (Linux 5.14+) kills atomically, so forks cannot race the kill.
    if (path_exists(dir_ + "/cgroup.kill") && write_file(dir_ + "/cgroup.kill", "1")) return;
    for (pid_t p : pids())
      if (p > 0) (void)::kill(p, SIGKILL);
  }

  Result<void> remove() override { return remove_cgroup_dir(dir_); }

  Result<Usage> usage() const override {
    if (!exists()) return fail(Errc::not_found, "the sandbox has no cgroup");
    Usage u;
    if (auto v = read_u64(dir_ + "/memory.current")) u.memory_bytes = *v;
    if (auto v = read_u64(dir_ + "/pids.current")) u.pids = *v;
    if (auto stat = read_file(dir_ + "/cpu.stat")) {
      size_t pos = stat->find("usage_usec ");
      if (pos != std::string::npos)
        u.cpu_ns = std::strtoull(stat->c_str() + pos + 11, nullptr, 10) * 1000;
    }
    return u;
  }

 private:
  std::string parent_;
  std::string dir_;
};

}  // namespace

Result<void> check_sandbox_id(const std::string& id) {
  bool ok = !id.empty() && id.size() <= 64 && id != "." && id != "..";
  for (char c : id) {
    bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_' || c == '-' || c == '.';
    ok = ok && allowed;
  }
  if (!ok) return fail(Errc::invalid_argument, fmt::format("invalid sandbox id '{}'", id));
  return {};
}

std::unique_ptr<Cgroup> open_cgroup(const std::string& id) {
  // The unified hierarchy mounted at /sys/fs/cgroup has cgroup.controllers at its root;
  // a v1 (or hybrid) layout has a tmpfs there with one directory per hierarchy.
  if (path_exists(std::string(kCgroupRoot) + "/cgroup.controllers"))
    return std::make_unique<CgroupV2>(id);
  return std::make_unique<CgroupV1>(id);
}

}  // namespace nexus::jail::detail
