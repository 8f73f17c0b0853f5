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

}  // namespace nexus::agent
