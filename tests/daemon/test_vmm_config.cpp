// SPDX-License-Identifier: Apache-2.0
// The nexus-vmm config nexusd writes for a sandbox (docs/vmm.md "Config"), field by field,
// and the VMM's control socket client against a peer speaking the protocol.
#include <catch.hpp>

#include <unistd.h>

#include <thread>

#include "daemon/microvm/control_client.hpp"
#include "daemon/microvm/vmm_config.hpp"
#include "daemon/microvm/vmm_process.hpp"
#include "unix_peer.hpp"

using namespace nexus;
using namespace nexus::daemon_test;

TEST_CASE("a sandbox's vmm config, golden", "[vmm-config]") {
  auto paths = microvm::sandbox_paths("/var/lib/nexus/sandboxes/sb_abc");
  auto c = microvm::sandbox_vmm_config("sb_abc", paths, "/k/vmlinux", "/i/agent-initrd.cpio",
                                       "/var/lib/nexus/templates/t/rootfs.erofs", 2, 512, 1764633600042);
  c.jail_uid = 99999;
  c.jail_gid = 99998;
  Json want = Json::parse(R"({
    "id": "sb_abc",
    "kernel": "/k/vmlinux",
    "initrd": "/i/agent-initrd.cpio",
    "cmdline": "nexus.hostname=sb_abc nexus.time=1764633600.042 -- --guest-init",
    "cpus": 2,
    "memory_mib": 512,
    "disks": [
      {"path": "/var/lib/nexus/templates/t/rootfs.erofs", "read_only": true},
      {"path": "/var/lib/nexus/sandboxes/sb_abc/disk.ext4", "read_only": false}
    ],
    "vsock": {"cid": 3, "uds": "/var/lib/nexus/sandboxes/sb_abc/vsock.sock"},
    "control": "/var/lib/nexus/sandboxes/sb_abc/control.sock",
    "serial_log": "/var/lib/nexus/sandboxes/sb_abc/console.log",
    "jail": {"uid": 99999, "gid": 99998}
  })");
  CHECK(microvm::to_json(c) == want);
  CHECK(paths.config == "/var/lib/nexus/sandboxes/sb_abc/vmm.json");
  CHECK(paths.vmm_log == "/var/lib/nexus/sandboxes/sb_abc/vmm.log");
}

TEST_CASE("optional config fields are left out", "[vmm-config]") {
  microvm::VmmConfig c;
  c.id = "x";
  Json j = microvm::to_json(c);
  CHECK_FALSE(j.contains("initrd"));
  CHECK_FALSE(j.contains("serial_log"));
  CHECK_FALSE(j.contains("jail"));
  c.jail_uid = 5;  // both ids or none
  CHECK_FALSE(microvm::to_json(c).contains("jail"));
}

TEST_CASE("socket paths must fit a sockaddr_un", "[vmm-config]") {
  CHECK(microvm::check_socket_paths(microvm::sandbox_paths("/var/lib/nexus/sandboxes/sb_abcdefghij0123456789")));
  auto r = microvm::check_socket_paths(microvm::sandbox_paths("/" + std::string(100, 'd')));
  REQUIRE_FALSE(r);
  CHECK(r.error().is(Errc::invalid_argument));
  CHECK(r.error().message().find("use a shorter --root") != std::string::npos);
}

TEST_CASE("control socket requests", "[vmm-control]") {
  std::string seen;
  SECTION("ok") {
    UnixPeer peer([&](int fd, int) {
      seen = read_line(fd);
      write_all(fd, "{\"ok\":true,\"state\":\"paused\"}\n");
    });
    auto r = microvm::control_request(peer.path(), Json{{"op", "status"}}, 2000);
    REQUIRE(r);
    CHECK((*r)["state"] == "paused");
    CHECK(Json::parse(seen) == Json{{"op", "status"}});
  }
  SECTION("refused") {
    UnixPeer peer([&](int fd, int) {
      read_line(fd);
      write_all(fd, "{\"ok\":false,\"error\":\"already paused\"}\n");
    });
    auto r = microvm::control_request(peer.path(), Json{{"op", "pause"}}, 2000);
    REQUIRE_FALSE(r);
    CHECK(r.error().is(Errc::conflict));
    CHECK(r.error().message().find("already paused") != std::string::npos);
    CHECK(r.error().message().find("'pause'") != std::string::npos);
  }
  SECTION("garbage") {
    UnixPeer peer([&](int fd, int) {
      read_line(fd);
      write_all(fd, "whatever\n");
    });
    auto r = microvm::control_request(peer.path(), Json{{"op", "pause"}}, 2000);
    REQUIRE_FALSE(r);
    CHECK(r.error().is(Errc::protocol));
  }
  SECTION("closed without a reply") {
    UnixPeer peer([&](int fd, int) { read_line(fd); });
    auto r = microvm::control_request(peer.path(), Json{{"op", "pause"}}, 2000);
    REQUIRE_FALSE(r);
    CHECK(r.error().is(Errc::unavailable));
  }
  SECTION("silent") {
    UnixPeer peer([&](int fd, int) {
      read_line(fd);
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    });
    auto r = microvm::control_request(peer.path(), Json{{"op", "pause"}}, 100);
    REQUIRE_FALSE(r);
    CHECK(r.error().is(Errc::timeout));
  }
  SECTION("no VMM") {
    auto r = microvm::control_request("/tmp/nexus-no-such-control.sock", Json{{"op", "pause"}}, 100);
    REQUIRE_FALSE(r);
    CHECK(r.error().is(Errc::unavailable));
  }
}

TEST_CASE("the VMM log's last line names its error", "[vmm-config]") {
  char tmpl[] = "/tmp/nexus-vmm-log-XXXXXX";
  int fd = mkstemp(tmpl);
  REQUIRE(fd >= 0);
  std::string text = "booting\nnexus-vmm: opening disk '/x/rootfs.erofs': No such file or directory\n\n";
  REQUIRE(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  close(fd);
  CHECK(microvm::last_log_line(tmpl) == "nexus-vmm: opening disk '/x/rootfs.erofs': No such file or directory");
  unlink(tmpl);
  CHECK(microvm::last_log_line("/nonexistent/log").empty());
}
