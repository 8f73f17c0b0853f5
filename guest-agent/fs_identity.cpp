// SPDX-License-Identifier: Apache-2.0
// Scoped fsuid/fsgid/groups switch.
#include "guest-agent/fs_identity.hpp"

#include <sys/stat.h>

#include <grp.h>
#include <sys/fsuid.h>
#include <unistd.h>

namespace nexus::agent {

FsIdentity::FsIdentity(const User& user, bool enabled) {
  if (!enabled || ::geteuid() != 0 || (user.uid == 0 && user.gid == 0)) return;
  int n = ::getgroups(0, nullptr);
  if (n > 0) {
    saved_groups_.resize(static_cast<size_t>(n));
    n = ::getgroups(n, saved_groups_.data());
    saved_groups_.resize(n > 0 ? static_cast<size_t>(n) : 0);
  }
  saved_uid_ = ::geteuid();
  saved_gid_ = ::getegid();
  // If setgroups fails the user's supplementary groups are missing: that can only deny.
  (void)::setgroups(user.groups.size(), user.groups.data());
  ::setfsgid(user.gid);
  ::setfsuid(user.uid);
  active_ = true;
}

FsIdentity::~FsIdentity() {
  if (!active_) return;
  ::setfsuid(saved_uid_);
  ::setfsgid(saved_gid_);
  (void)::setgroups(saved_groups_.size(), saved_groups_.data());
}

bool user_can_enter(const std::string& path, const User& user, bool switch_identity) {
  FsIdentity as_user(user, switch_identity);
  struct stat st {};
  // Resolving "dir/." needs search permission on dir itself.
  return ::stat((path == "/" ? path : path + "/.").c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace nexus::agent
