// SPDX-License-Identifier: Apache-2.0
// The JSON config nexusd hands to nexus-vmm (docs/vmm.md), parsed and checked.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace nexus::vmm {

struct DiskConfig {
  std::string path;
  bool read_only = false;
};

struct JailConfig {
  uid_t uid = 0;
  gid_t gid = 0;
};

struct VmmConfig {
  std::string id;
  std::string kernel;
  std::string initrd;   ///< empty: none
  std::string cmdline;  ///< appended to the VMM's own boot arguments
  unsigned cpus = 1;
  uint64_t memory_mib = 256;
  std::vector<DiskConfig> disks;
  uint64_t vsock_cid = 0;  ///< 0: no vsock device
  std::string vsock_uds;
  std::string control;     ///< control socket path (required)
  std::string serial_log;  ///< empty: no console
  std::optional<JailConfig> jail;
};

/// Parse and validate; errors name the field ("config: 'cpus' must be 1..32, got 0").
Result<VmmConfig> parse_config(std::string_view json_text);

}  // namespace nexus::vmm
