// SPDX-License-Identifier: Apache-2.0
#include "rootfs/tar_path.hpp"

namespace nexus::rootfs {

std::optional<std::string> relative_tar_path(std::string_view in) {
  std::string out;
  while (!in.empty()) {
    size_t slash = in.find('/');
    std::string_view part = in.substr(0, slash);
    in = slash == std::string_view::npos ? std::string_view() : in.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    if (part == "..") return std::nullopt;
    if (!out.empty()) out += '/';
    out += part;
  }
  return out;
}

}  // namespace nexus::rootfs
