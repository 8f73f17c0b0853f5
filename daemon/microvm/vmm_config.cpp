// SPDX-License-Identifier: Apache-2.0
// Sandbox paths and the nexus-vmm config JSON.
#include "daemon/microvm/vmm_config.hpp"

#include <sys/un.h>

#include <fmt/format.h>

namespace nexus::microvm {

SandboxPaths sandbox_paths(const std::string& sandbox_dir) {
  SandboxPaths p;
  p.dir = sandbox_dir;
  p.config = sandbox_dir + "/vmm.json";
  p.vsock = sandbox_dir + "/vsock.sock";
  p.control = sandbox_dir + "/control.sock";
  p.serial_log = sandbox_dir + "/console.log";
  p.vmm_log = sandbox_dir + "/vmm.log";
  p.disk = sandbox_dir + "/disk.ext4";
  return p;
}

Result<void> check_socket_paths(const SandboxPaths& p) {
  for (const std::string* s : {&p.vsock, &p.control})
    if (s->size() >= sizeof(sockaddr_un::sun_path))
      return fail(Errc::invalid_argument,
                  fmt::format("socket path '{}' is longer than a Unix socket allows ({} bytes); use a shorter --root",
                              *s, sizeof(sockaddr_un::sun_path) - 1));
  return {};
}

VmmConfig sandbox_vmm_config(const std::string& id, const SandboxPaths& paths, const std::string& kernel,
                             const std::string& initrd, const std::string& rootfs_image, int cpus,
                             int memory_mib, int64_t unix_time_ms) {
  VmmConfig c;
  c.id = id;
  c.kernel = kernel;
  c.initrd = initrd;
  // Init's own arguments follow `--`: the agent runs as the guest's PID 1 (guest init).
  c.cmdline = fmt::format("nexus.hostname={} nexus.time={}.{:03} -- --guest-init", id,
                          unix_time_ms / 1000, unix_time_ms % 1000);
  c.cpus = cpus;
  c.memory_mib = memory_mib;
  c.disks = {{rootfs_image, true}, {paths.disk, false}};
  c.vsock_uds = paths.vsock;
  c.control = paths.control;
  c.serial_log = paths.serial_log;
  return c;
}

Json to_json(const VmmConfig& c) {
  Json disks = Json::array();
  for (const auto& d : c.disks) disks.push_back({{"path", d.path}, {"read_only", d.read_only}});
  Json j = {{"id", c.id},
            {"kernel", c.kernel},
            {"cmdline", c.cmdline},
            {"cpus", c.cpus},
            {"memory_mib", c.memory_mib},
            {"disks", disks},
            {"vsock", {{"cid", c.vsock_cid}, {"uds", c.vsock_uds}}},
            {"control", c.control}};
  if (!c.initrd.empty()) j["initrd"] = c.initrd;
  if (!c.serial_log.empty()) j["serial_log"] = c.serial_log;
  if (c.jail_uid && c.jail_gid) j["jail"] = {{"uid", *c.jail_uid}, {"gid", *c.jail_gid}};
  return j;
}

}  // namespace nexus::microvm
