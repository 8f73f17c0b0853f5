// SPDX-License-Identifier: Apache-2.0
// Small host-side file helpers for the jail: control files, mount table, tree removal.
#pragma once

#include <string>
#include <vector>

#include "common/result.hpp"

namespace nexus::jail::detail {

/// Read a whole (small) file, e.g. a cgroup or /proc control file.
Result<std::string> read_file(const std::string& path);
/// Write `content` to an existing file in one write(2), as control files want.
Result<void> write_file(const std::string& path, const std::string& content);
bool path_exists(const std::string& path);
/// mkdir that treats "already exists" as success.
Result<void> make_dir(const std::string& path, unsigned mode);

/// Mount points at or below `dir` in the caller's mount namespace, deepest first.
Result<std::vector<std::string>> mounts_under(const std::string& dir);
/// Lazily unmount everything at or below `dir`.
Result<void> unmount_under(const std::string& dir);
/// Remove `dir` and its contents without crossing into other file systems (so a mount
/// left behind is never emptied through). Missing `dir` is success.
Result<void> remove_tree(const std::string& dir);

}  // namespace nexus::jail::detail
