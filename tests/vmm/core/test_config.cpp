// SPDX-License-Identifier: Apache-2.0
// Tests for vmm/core/config: the JSON config nexusd hands to nexus-vmm.
#include <catch.hpp>

#include "vmm/core/config.hpp"

using namespace nexus::vmm;

namespace {
const char* kGood = R"({
  "id": "sb_abc", "kernel": "/k/vmlinux", "initrd": "/k/initrd.cpio", "cmdline": "a=b",
  "cpus": 2, "memory_mib": 128,
  "disks": [{"path": "/d/root.erofs", "read_only": true}, {"path": "/d/rw.ext4"}],
  "vsock": {"cid": 3, "uds": "/s/v.sock"}, "control": "/s/c.sock", "serial_log": "/s/console.log",
  "jail": {"uid": 100000, "gid": 100001}
})";
}  // namespace

TEST_CASE("a complete config parses into every field", "[vmm][config]") {
  auto c = parse_config(kGood);
  REQUIRE(c.has_value());
  CHECK(c->id == "sb_abc");
  CHECK(c->kernel == "/k/vmlinux");
  CHECK(c->initrd == "/k/initrd.cpio");
  CHECK(c->cmdline == "a=b");
  CHECK(c->cpus == 2);
  CHECK(c->memory_mib == 128);
  REQUIRE(c->disks.size() == 2);
  CHECK(c->disks[0].read_only);
  CHECK_FALSE(c->disks[1].read_only);
  CHECK(c->vsock_cid == 3);
  CHECK(c->vsock_uds == "/s/v.sock");
  CHECK(c->control == "/s/c.sock");
  REQUIRE(c->jail.has_value());
  CHECK(c->jail->uid == 100000);
  CHECK(c->jail->gid == 100001);
}

TEST_CASE("defaults: one vCPU, 256 MiB, no devices but rng", "[vmm][config]") {
  auto c = parse_config(R"({"id":"x","kernel":"/k","control":"/c"})");
  REQUIRE(c.has_value());
  CHECK(c->cpus == 1);
  CHECK(c->memory_mib == 256);
  CHECK(c->disks.empty());
  CHECK(c->vsock_cid == 0);
  CHECK_FALSE(c->jail.has_value());
}

TEST_CASE("bad configs are refused with the field named", "[vmm][config]") {
  struct Case {
    const char* json;
    const char* needle;
  } cases[] = {
      {"[]", "JSON object"},
      {"{", "config"},
      {R"({"id":"x","kernel":"/k"})", "'control'"},
      {R"({"id":"x","control":"/c"})", "'kernel'"},
      {R"({"id":"../x","kernel":"/k","control":"/c"})", "'id'"},
      {R"({"id":"x","kernel":"k","control":"/c"})", "absolute"},
      {R"({"id":"x","kernel":"/k","control":"/c","cpus":0})", "'cpus'"},
      {R"({"id":"x","kernel":"/k","control":"/c","cpus":33})", "'cpus'"},
      {R"({"id":"x","kernel":"/k","control":"/c","memory_mib":-5})", "'memory_mib'"},
      {R"({"id":"x","kernel":"/k","control":"/c","memory_mib":1})", "'memory_mib'"},
      {R"({"id":"x","kernel":"/k","control":"/c","disks":{}})", "'disks'"},
      {R"({"id":"x","kernel":"/k","control":"/c","disks":[{"path":"rel"}]})", "disks[0]"},
      {R"({"id":"x","kernel":"/k","control":"/c","disks":[{"path":"/a","read_only":"yes"}]})", "read_only"},
      {R"({"id":"x","kernel":"/k","control":"/c","vsock":{"cid":2,"uds":"/v"}})", "vsock.cid"},
      {R"({"id":"x","kernel":"/k","control":"/c","vsock":{"cid":3}})", "vsock"},
      {R"({"id":"x","kernel":"/k","control":"/c","jail":{"uid":0,"gid":5}})", "non-root"},
      {R"({"id":"x","kernel":"/k","control":"/c","colour":"red"})", "unknown field 'colour'"},
  };
  for (const auto& c : cases) {
    INFO(c.json);
    auto r = parse_config(c.json);
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().message(), Catch::Contains(c.needle));
  }
}
