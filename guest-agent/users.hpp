// SPDX-License-Identifier: Apache-2.0
// Users and groups from the sandbox's own /etc/passwd and /etc/group (no NSS: the agent is static).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace nexus::agent {

struct PasswdEntry {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
  std::string shell;
};

struct GroupEntry {
  std::string name;
  gid_t gid = 0;
  std::vector<std::string> members;
};

/// Parse passwd(5) text; malformed lines are skipped.
std::vector<PasswdEntry> parse_passwd(std::string_view text);
/// Parse group(5) text; malformed lines are skipped.
std::vector<GroupEntry> parse_group(std::string_view text);

/// A resolved user: identity plus supplementary groups.
struct User {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
  std::string shell;
  std::vector<gid_t> groups;  ///< supplementary groups, including the primary group
};

/// Look `name` up in passwd/group text. not_found for an unknown user.
Result<User> find_user(std::string_view name, std::string_view passwd_text,
                       std::string_view group_text);
/// Same, for a uid.
Result<User> find_user_by_uid(uid_t uid, std::string_view passwd_text,
                              std::string_view group_text);

/// Read a small text file (up to `limit` bytes).
Result<std::string> read_small_file(const std::string& path, size_t limit = 4 * 1024 * 1024);

/// Looks users up in files under `etc_dir` (default "/etc"), re-reading them on every call
/// so users added at run time are found.
class UserDb {
 public:
  explicit UserDb(std::string etc_dir = "/etc") : etc_dir_(std::move(etc_dir)) {}
  Result<User> lookup(std::string_view name) const;
  Result<User> lookup_uid(uid_t uid) const;

 private:
  std::string etc_dir_;
};

}  // namespace nexus::agent
