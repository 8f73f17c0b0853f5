// SPDX-License-Identifier: Apache-2.0
// Host facts for nexus doctor.
#include "common/host_facts.hpp"

#include <linux/bpf.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "common/strings.hpp"

namespace nexus::host {
namespace {

std::string read_small(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::ostringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  return text.size() > (1 << 20) ? text.substr(0, 1 << 20) : text;
}

/// Without surrounding whitespace, newlines included (common/strings' trim keeps those).
std::string strip(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

bool exists(const std::string& p) { return ::access(p.c_str(), F_OK) == 0; }

Json kernel() {
  utsname u{};
  if (::uname(&u) != 0) return Json{{"release", "unknown"}};
  return Json{{"release", u.release}, {"version", u.version}, {"machine", u.machine}};
}

Json cgroup() {
  std::set<std::string> have;
  int version = 1;
  // v2: the unified hierarchy's controllers (empty when every controller is bound to v1).
  std::string v2 = read_small("/sys/fs/cgroup/cgroup.controllers");
  bool v2_mounted = exists("/sys/fs/cgroup/cgroup.controllers");
  for (auto& c : split(strip(v2), ' '))
    if (!c.empty()) have.insert(c);
  // v1: /proc/cgroups lines "name hierarchy num_cgroups enabled"; a non-zero hierarchy is mounted.
  bool any_v1 = false;
  for (auto& line : split(read_small("/proc/cgroups"), '\n')) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream f(line);
    std::string name;
    int hierarchy = 0, count = 0, enabled = 0;
    if (!(f >> name >> hierarchy >> count >> enabled)) continue;
    if (enabled && hierarchy != 0) {
      have.insert(name);
      any_v1 = true;
    }
  }
  if (v2_mounted && !any_v1) version = 2;
  Json missing = Json::array();
  for (const char* c : kNeededControllers)
    if (!have.count(c)) missing.push_back(c);
  Json j{{"version", version}, {"controllers", Json(std::vector<std::string>(have.begin(), have.end()))}, {"missing", missing}};
  if (v2_mounted && any_v1) j["hybrid"] = true;
  return j;
}

Json userns() {
  std::string max = strip(read_small("/proc/sys/user/max_user_namespaces"));
  if (max.empty()) return Json{{"available", exists("/proc/self/ns/user")}, {"reason", "no /proc/sys/user/max_user_namespaces"}};
  auto n = parse_int(max);
  Json j{{"available", n && *n > 0}, {"max", n.value_or(0)}};
  if (!n || *n == 0) j["reason"] = "user.max_user_namespaces is 0 (sysctl -w user.max_user_namespaces=15000)";
  return j;
}

long bpf(int cmd, bpf_attr& attr) { return ::syscall(SYS_bpf, cmd, &attr, sizeof(attr)); }

Json ebpf() {
  // The smallest TC classifier: r0 = 0 (TC_ACT_OK); exit.
  bpf_insn prog[2] = {};
  prog[0].code = BPF_ALU64 | BPF_MOV | BPF_K;
  prog[0].dst_reg = BPF_REG_0;
  prog[0].imm = 0;
  prog[1].code = BPF_JMP | BPF_EXIT;
  static const char license[] = "Apache-2.0";
  bpf_attr attr{};
  attr.prog_type = BPF_PROG_TYPE_SCHED_CLS;
  attr.insn_cnt = 2;
  attr.insns = reinterpret_cast<uint64_t>(prog);
  attr.license = reinterpret_cast<uint64_t>(license);
  long fd = bpf(BPF_PROG_LOAD, attr);
  if (fd >= 0) {
    ::close(static_cast<int>(fd));
    return Json{{"available", true}};
  }
  int err = errno;
  std::string why = err == EPERM || err == EACCES
                        ? fmt::format("loading a TC program was refused ({}): run as root (nexusd does)", std::strerror(err))
                        : fmt::format("the kernel refused a TC program: {}", std::strerror(err));
  return Json{{"available", false}, {"reason", why}, {"errno", err}};
}

Json btf() {
  const std::string path = "/sys/kernel/btf/vmlinux";
  return Json{{"available", exists(path)}, {"path", path}};
}

Json nftables() {
  std::string nft;
  for (const char* p : {"/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"})
    if (::access(p, X_OK) == 0) {
      nft = p;
      break;
    }
  utsname u{};
  std::string release = ::uname(&u) == 0 ? u.release : "";
  std::string kernel = "missing";
  if (exists("/sys/module/nf_tables")) kernel = "loaded";
  else if (read_small("/lib/modules/" + release + "/modules.builtin").find("/nf_tables.ko") != std::string::npos) kernel = "builtin";
  else if (read_small("/lib/modules/" + release + "/modules.dep").find("/nf_tables.ko") != std::string::npos) kernel = "module";
  Json j{{"available", !nft.empty() && kernel != "missing"}, {"kernel", kernel}};
  if (!nft.empty()) j["nft"] = nft;
  if (nft.empty()) j["reason"] = "the nft program is not installed (apt-get install nftables)";
  else if (kernel == "missing") j["reason"] = "the kernel has no nf_tables (neither loaded, built in nor a module)";
  return j;
}

Json disk(const std::string& root_dir) {
  std::string path = root_dir.empty() ? "/" : root_dir;
  while (path.size() > 1 && !exists(path)) {
    auto slash = path.rfind('/');
    path = slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
  }
  struct statvfs st{};
  if (::statvfs(path.c_str(), &st) != 0) return Json{{"path", path}, {"error", std::strerror(errno)}};
  return Json{{"path", path},
              {"free_bytes", static_cast<uint64_t>(st.f_bavail) * st.f_frsize},
              {"total_bytes", static_cast<uint64_t>(st.f_blocks) * st.f_frsize}};
}

}  // namespace

Json system_facts(const std::string& root_dir) {
  return Json{{"kernel", kernel()}, {"cgroup", cgroup()},      {"userns", userns()},       {"ebpf", ebpf()},
              {"btf", btf()},       {"nftables", nftables()}, {"disk", disk(root_dir)}};
}

}  // namespace nexus::host
