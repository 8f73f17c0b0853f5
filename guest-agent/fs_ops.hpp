// SPDX-License-Identifier: Apache-2.0
// Directory walks and removal for the filesystem service (ListDir, Remove, WatchDir checks).
//
// These run with the caller's FsIdentity in effect (see fs_identity.hpp); they do not
// switch identity themselves.
#pragma once

#include <cstdint>
#include <string>

#include "common/json.hpp"
#include "common/result.hpp"
#include "guest-agent/entry_info.hpp"

namespace nexus::agent {

constexpr size_t kMaxListEntries = 100000;

/// Join a directory and a name ("/" + "a" = "/a", "/d" + "a" = "/d/a").
std::string join_path(const std::string& dir, const std::string& name);

/// The entries below the directory `path` up to `depth` levels (1 = direct children),
/// `path` itself excluded, in lexical walk order (each directory's children sorted by
/// name, a directory's contents right after it). Symlinks are listed, never descended.
/// `path` itself may be a symlink to a directory; entry paths are `path` joined with the
/// relative name. Unreadable subdirectories are listed but not descended. not_found when
/// `path` is missing, invalid_argument when it is not a directory, too_large past
/// `max_entries`.
Result<Json> list_dir(const std::string& path, uint32_t depth, EntryInfoBuilder& builder,
                      size_t max_entries = kMaxListEntries);

/// rm -rf: remove `path` and everything below it without following symlinks. A missing
/// path is success. On failure the rest is still attempted and the first error returned.
Result<void> remove_all(const std::string& path);

/// Whether `path` is on a network or FUSE file system (NFS, SMB/CIFS, FUSE, 9p, Ceph,
/// AFS, Coda, NCP), by statfs(2) magic.
Result<bool> is_network_mount(const std::string& path);

}  // namespace nexus::agent
