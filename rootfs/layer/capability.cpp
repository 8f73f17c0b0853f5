// SPDX-License-Identifier: Apache-2.0
// security.capability revision 2 and 3 layouts (linux/capability.h, vfs_ns_cap_data).
#include "rootfs/layer/capability.hpp"

#include <linux/capability.h>

#include <cstdint>

namespace nexus::rootfs::layer {

namespace {

constexpr size_t kRootIdOffset = XATTR_CAPS_SZ_2;  // v3 appends the rootid to the v2 layout

uint32_t le32_at(std::string_view v, size_t off) {
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(v[off + i])); };
  return b(0) | b(1) << 8 | b(2) << 16 | b(3) << 24;
}

void put_le32(std::string& v, size_t off, uint32_t x) {
  for (size_t i = 0; i < 4; ++i) v[off + i] = static_cast<char>((x >> (8 * i)) & 0xff);
}

}  // namespace

std::optional<std::string> capability_for_disk(std::string_view value,
                                               const std::optional<IdShift>& shift) {
  if (value.size() < 4) return std::nullopt;
  uint32_t revision = le32_at(value, 0) & VFS_CAP_REVISION_MASK;
  bool v2 = revision == VFS_CAP_REVISION_2 && value.size() == XATTR_CAPS_SZ_2;
  bool v3 = revision == VFS_CAP_REVISION_3 && value.size() == XATTR_CAPS_SZ_3;
  if (!v2 && !v3) return std::nullopt;
  if (!shift) return std::string(value);

  uint32_t rootid = v3 ? le32_at(value, kRootIdOffset) : 0;
  if (rootid >= shift->count) return std::nullopt;
  std::string out(value.substr(0, XATTR_CAPS_SZ_2));
  out.resize(XATTR_CAPS_SZ_3);
  uint32_t flags = le32_at(value, 0) & ~VFS_CAP_REVISION_MASK;
  put_le32(out, 0, VFS_CAP_REVISION_3 | flags);
  put_le32(out, kRootIdOffset, shift->base + rootid);
  return out;
}

}  // namespace nexus::rootfs::layer
