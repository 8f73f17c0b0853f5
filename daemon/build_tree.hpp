// SPDX-License-Identifier: Apache-2.0
// File-tree operations of a Nexusfile build (daemon/template_build): applying a build
// sandbox's overlay upper dir onto the tree it ran over, COPY from the build context into the
// tree, and owner lookups in the tree's /etc/passwd and /etc/group.
//
// Every path below a root is resolved with openat2 (RESOLVE_IN_ROOT for names the Nexusfile
// gives, so a symlink in the tree or the context can never lead outside it; the merge walks
// with O_NOFOLLOW only). Blocking; any thread; nobody else may write the trees meanwhile
// (the build sandbox is stopped before a merge or a COPY).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace nexus::daemon::build {

struct MergeStats {
  uint64_t moved = 0;      ///< entries moved from the upper dir into the tree
  uint64_t whiteouts = 0;  ///< entries removed from the tree by whiteouts
  uint64_t opaque = 0;     ///< tree directories replaced by opaque upper directories
};

/// Applies an overlayfs upper dir (as the kernel left it, xattrs in the trusted.overlay.
/// namespace) onto `tree`, its former lower dir, and empties `upper`:
///  * a whiteout (character device 0:0) removes the tree's entry;
///  * a directory with trusted.overlay.opaque=y replaces the tree's directory whole;
///  * any other directory merges into the tree's directory (mode, owner, times and xattrs
///    from the upper one) and is walked;
///  * everything else replaces the tree's entry (moved with rename(2): upper and tree must be
///    on one filesystem).
/// trusted.overlay.* xattrs are not carried over. redirect_dir and metacopy entries (off in
/// Debian's kernels) are refused with Errc::invalid_argument rather than merged wrongly.
Result<MergeStats> merge_upper(const std::string& upper, const std::string& tree);

/// In-sandbox ids of a `user[:group]` spec (names or ids): names from the tree's
/// /etc/passwd and /etc/group; a user without a group takes the user's primary group.
/// Errc::invalid_argument names an unknown user or group.
struct Owner {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::string name;  ///< the passwd name of uid, empty when it has none
};
Result<Owner> resolve_owner(const std::string& tree, std::string_view spec);

/// COPY: `sources` (relative to `context`, normalised; '*', '?' and '[' are globs matched
/// per path component) into `dest` (absolute inside `tree`; a trailing '/' means a
/// directory). A directory source copies its contents; a file source goes to dest/name when
/// dest is a directory (existing, with a trailing '/', or several sources), else to dest.
/// Files, directories and symlinks (copied as links, never followed) get owner host uid/gid
/// and keep their modes and mtimes; other file types are skipped. Missing parents of dest are
/// made (root-owned: host root_uid). Errc::not_found for a source that matches nothing.
struct CopyOwner {
  uint32_t uid = 0;  ///< host ids, already shifted
  uint32_t gid = 0;
  uint32_t root_uid = 0;  ///< host id of the sandbox's root, for parents made on the way
};
struct CopyStats {
  uint64_t files = 0;
  uint64_t dirs = 0;
  uint64_t symlinks = 0;
  uint64_t bytes = 0;
};
Result<CopyStats> copy_into(const std::string& context, const std::vector<std::string>& sources,
                            const std::string& dest, const std::string& tree, const CopyOwner& owner);

/// Lists the context's paths (relative, sorted) matching a glob source; exposed for tests.
Result<std::vector<std::string>> expand_source(const std::string& context, const std::string& source);

/// Makes the absolute directory `path` (and missing parents) in `tree`, resolving in its
/// root; new directories are owned by host uid/gid.
Result<void> make_dirs_in(const std::string& tree, const std::string& path, uint32_t uid, uint32_t gid);

}  // namespace nexus::daemon::build
