// SPDX-License-Identifier: Apache-2.0
// The contract between nexusd and nexus-vmm (docs/vmm.md): the config the daemon's microvm
// backend writes for a sandbox is one the VMM accepts, field for field.
#include <catch.hpp>

#include "common/json.hpp"
#include "daemon/microvm/vmm_config.hpp"
#include "vmm/core/config.hpp"

using namespace nexus;

TEST_CASE("nexusd's vmm.json for a sandbox parses in nexus-vmm", "[vmm][config][daemon]") {
  auto paths = microvm::sandbox_paths("/var/lib/nexus/sandboxes/sb_abc123");
  auto dc = microvm::sandbox_vmm_config("sb_abc123", paths, "/var/lib/nexus/guest/vmlinux",
                                        "/usr/local/libexec/nexus/agent-initrd.cpio",
                                        "/var/lib/nexus/templates/t/rootfs.erofs", 2, 512,
                                        1700000000123);
  dc.jail_uid = 99999;
  dc.jail_gid = 99999;
  auto parsed = vmm::parse_config(dump_json(microvm::to_json(dc)));
  REQUIRE(parsed.has_value());
  CHECK(parsed->id == "sb_abc123");
  CHECK(parsed->kernel == dc.kernel);
  CHECK(parsed->initrd == dc.initrd);
  CHECK(parsed->cpus == 2);
  CHECK(parsed->memory_mib == 512);
  REQUIRE(parsed->disks.size() == 2);
  CHECK(parsed->disks[0].read_only);
  CHECK_FALSE(parsed->disks[1].read_only);
  CHECK(parsed->vsock_cid >= 3);
  CHECK(parsed->vsock_uds == paths.vsock);
  CHECK(parsed->control == paths.control);
  CHECK(parsed->serial_log == paths.serial_log);
  REQUIRE(parsed->jail.has_value());
  CHECK(parsed->jail->uid == 99999);
  CHECK_THAT(parsed->cmdline, Catch::Contains("nexus.hostname=sb_abc123"));
  CHECK_THAT(parsed->cmdline, Catch::EndsWith("-- --guest-init"));
}
