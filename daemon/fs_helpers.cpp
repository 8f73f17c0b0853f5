// SPDX-License-Identifier: Apache-2.0
// File-system helpers.
#include "daemon/fs_helpers.hpp"

#include <sys/stat.h>

#include <filesystem>

#include <fmt/format.h>

namespace nexus::daemon {

Result<void> mkdir_p(const std::string& path, mode_t mode) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return fail(Error(ec, fmt::format("creating '{}': {}", path, ec.message())));
  if (::chmod(path.c_str(), mode) != 0) return fail_errno(fmt::format("chmod '{}'", path));
  return {};
}

}  // namespace nexus::daemon
