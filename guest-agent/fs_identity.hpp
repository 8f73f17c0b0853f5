// SPDX-License-Identifier: Apache-2.0
// Acting as a user for file system access: fsuid/fsgid and supplementary groups.
//
// setfsuid/setfsgid are per thread and the agent is single-threaded (no libuv thread pool
// use), so switching around each path-resolving syscall (open, mkdir, rename) makes the
// kernel apply that user's permissions and ownership exactly; the agent keeps its
// privileges for everything else. setgroups is process-wide but is restored before the
// scope ends, and nothing else runs in between.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "guest-agent/users.hpp"

namespace nexus::agent {

class FsIdentity {
 public:
  /// Switch when `enabled` and the agent runs as root; otherwise a no-op.
  FsIdentity(const User& user, bool enabled);
  ~FsIdentity();
  FsIdentity(const FsIdentity&) = delete;
  FsIdentity& operator=(const FsIdentity&) = delete;

 private:
  bool active_ = false;
  uid_t saved_uid_ = 0;
  gid_t saved_gid_ = 0;
  std::vector<gid_t> saved_groups_;
};

/// Whether `user` can make `path` its working directory: it resolves, as that user, to a
/// directory the user may search. (Checked as the user, so a caller learns nothing about
/// directories it cannot reach.)
bool user_can_enter(const std::string& path, const User& user, bool switch_identity);

}  // namespace nexus::agent
