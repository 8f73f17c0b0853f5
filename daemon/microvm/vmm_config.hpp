// SPDX-License-Identifier: Apache-2.0
// The files of one microVM sandbox and the JSON config nexusd writes for its nexus-vmm
// (docs/vmm.md "Config").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/json.hpp"
#include "common/result.hpp"

namespace nexus::microvm {

/// Where a microVM sandbox keeps its things, all inside its sandbox directory (removed
/// with it). The two sockets must fit a sockaddr_un.
struct SandboxPaths {
  std::string dir;
  std::string config;      ///< vmm.json, the VMM's --config
  std::string vsock;       ///< the guest's hybrid vsock socket
  std::string control;     ///< the VMM's control socket
  std::string serial_log;  ///< the guest console
  std::string vmm_log;     ///< the VMM's own stdout and stderr
  std::string disk;        ///< the writable ext4 disk (/dev/vdb)
};

SandboxPaths sandbox_paths(const std::string& sandbox_dir);
/// invalid_argument when a socket path would not fit a sockaddr_un.
Result<void> check_socket_paths(const SandboxPaths& p);

struct VmmDisk {
  std::string path;
  bool read_only = false;
};

struct VmmConfig {
  std::string id;
  std::string kernel;
  std::string initrd;   ///< empty: none
  std::string cmdline;  ///< appended to the VMM's own boot arguments
  int cpus = 1;
  int memory_mib = 256;
  std::vector<VmmDisk> disks;  ///< /dev/vda, /dev/vdb, ...
  uint32_t vsock_cid = 3;
  std::string vsock_uds;
  std::string control;
  std::string serial_log;  ///< empty: no console
  std::optional<uint32_t> jail_uid, jail_gid;  ///< both set: the VMM jails itself as them
};

/// The guest's vsock port the agent listens on (DESIGN.md section 1).
inline constexpr uint32_t kAgentVsockPort = 49983;

/// The config of a sandbox: its rootfs image read-only, its disk writable, the sockets and
/// logs in its directory, the hostname and the time (`unix_time_ms`, for the guest's clock)
/// on the kernel command line.
VmmConfig sandbox_vmm_config(const std::string& id, const SandboxPaths& paths, const std::string& kernel,
                             const std::string& initrd, const std::string& rootfs_image, int cpus,
                             int memory_mib, int64_t unix_time_ms);

Json to_json(const VmmConfig& c);

}  // namespace nexus::microvm
