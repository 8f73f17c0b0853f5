// SPDX-License-Identifier: Apache-2.0
#include "vmm/core/config.hpp"

#include <cctype>

#include <fmt/format.h>

#include "common/json.hpp"

namespace nexus::vmm {
namespace {

constexpr unsigned kMaxCpus = 32;
constexpr uint64_t kMinMemoryMib = 64, kMaxMemoryMib = 65536;
constexpr size_t kMaxDisks = 8;

tl::unexpected<Error> bad(std::string what) {
  return fail(Errc::invalid_argument, "config: " + std::move(what));
}

bool valid_id(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-'))
      return false;
  return id != "." && id != "..";
}

Result<std::string> path_field(const Json& j, const char* key, bool required) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) return bad(fmt::format("'{}' is required", key));
    return std::string();
  }
  if (!it->is_string()) return bad(fmt::format("'{}' must be a string", key));
  auto s = it->get<std::string>();
  if (s.empty() || s[0] != '/') return bad(fmt::format("'{}' must be an absolute path", key));
  if (s.find('\0') != std::string::npos) return bad(fmt::format("'{}' contains NUL", key));
  return s;
}

Result<uint64_t> uint_field(const Json& j, const char* key, uint64_t def, uint64_t lo,
                            uint64_t hi) {
  auto it = j.find(key);
  if (it == j.end()) return def;
  if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<int64_t>() >= 0))
    return bad(fmt::format("'{}' must be a non-negative integer", key));
  uint64_t v = it->get<uint64_t>();
  if (v < lo || v > hi) return bad(fmt::format("'{}' must be {}..{}, got {}", key, lo, hi, v));
  return v;
}

}  // namespace

Result<VmmConfig> parse_config(std::string_view json_text) {
  auto parsed = parse_json(json_text);
  if (!parsed) return bad(parsed.error().message());
  const Json& j = *parsed;
  if (!j.is_object()) return bad("must be a JSON object");
  static const char* kKnown[] = {"id", "kernel", "initrd", "cmdline", "cpus", "memory_mib",
                                 "disks", "vsock", "control", "serial_log", "jail"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool known = false;
    for (const char* k : kKnown) known = known || it.key() == k;
    if (!known) return bad(fmt::format("unknown field '{}'", it.key()));
  }
  VmmConfig c;
  auto id = json_string(j, "id");
  if (!id || !valid_id(*id)) return bad("'id' must be 1-64 characters of [A-Za-z0-9_.-]");
  c.id = *id;
  auto kernel = path_field(j, "kernel", true);
  if (!kernel) return fail(kernel.error());
  c.kernel = *kernel;
  auto initrd = path_field(j, "initrd", false);
  if (!initrd) return fail(initrd.error());
  c.initrd = *initrd;
  auto cmdline = json_string(j, "cmdline");
  if (!cmdline) return bad("'cmdline' must be a string");
  c.cmdline = *cmdline;
  auto cpus = uint_field(j, "cpus", 1, 1, kMaxCpus);
  if (!cpus) return fail(cpus.error());
  c.cpus = static_cast<unsigned>(*cpus);
  auto mem = uint_field(j, "memory_mib", 256, kMinMemoryMib, kMaxMemoryMib);
  if (!mem) return fail(mem.error());
  c.memory_mib = *mem;

  if (auto d = j.find("disks"); d != j.end()) {
    if (!d->is_array() || d->size() > kMaxDisks)
      return bad(fmt::format("'disks' must be an array of at most {} disks", kMaxDisks));
    for (size_t i = 0; i < d->size(); ++i) {
      const Json& e = (*d)[i];
      if (!e.is_object()) return bad(fmt::format("disks[{}] must be an object", i));
      auto p = path_field(e, "path", true);
      if (!p) return bad(fmt::format("disks[{}]: {}", i, p.error().message()));
      auto ro = e.find("read_only");
      if (ro != e.end() && !ro->is_boolean())
        return bad(fmt::format("disks[{}].read_only must be true or false", i));
      c.disks.push_back({*p, ro != e.end() && ro->get<bool>()});
    }
  }
  if (auto v = j.find("vsock"); v != j.end()) {
    if (!v->is_object()) return bad("'vsock' must be an object");
    auto cid = uint_field(*v, "cid", 0, 3, 0xFFFFFFFEull);
    if (!cid || *cid == 0) return bad("vsock.cid must be 3..4294967294");
    auto uds = path_field(*v, "uds", true);
    if (!uds) return bad("vsock: " + uds.error().message());
    c.vsock_cid = *cid;
    c.vsock_uds = *uds;
  }
  auto control = path_field(j, "control", true);
  if (!control) return fail(control.error());
  c.control = *control;
  auto serial = path_field(j, "serial_log", false);
  if (!serial) return fail(serial.error());
  c.serial_log = *serial;
  if (auto jl = j.find("jail"); jl != j.end()) {
    if (!jl->is_object()) return bad("'jail' must be an object");
    auto uid = uint_field(*jl, "uid", 0, 1, 0xFFFFFFFEull);
    auto gid = uint_field(*jl, "gid", 0, 1, 0xFFFFFFFEull);
    if (!uid || !gid || *uid == 0 || *gid == 0)
      return bad("jail.uid and jail.gid must be non-root ids (1..4294967294)");
    c.jail = JailConfig{static_cast<uid_t>(*uid), static_cast<gid_t>(*gid)};
  }
  return c;
}

}  // namespace nexus::vmm
