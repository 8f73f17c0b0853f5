// SPDX-License-Identifier: Apache-2.0
// The agent's sandbox-level settings (from POST /init) and user resolution.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.hpp"
#include "common/result.hpp"
#include "guest-agent/users.hpp"

namespace nexus::agent {

constexpr std::string_view kDefaultPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct AgentOptions {
  /// Run everything as the agent's own identity (for tests without root): any known user
  /// name resolves to the current uid/gid with HOME from the agent's environment.
  bool single_user = false;
  std::string etc_dir = "/etc";  ///< where passwd and group are read
};

class AgentState {
 public:
  explicit AgentState(AgentOptions options);

  /// Apply a POST /init body: envVars, defaultUser, defaultWorkdir, accessToken and
  /// Nexus's trafficAccessToken (all optional; present fields replace the current values).
  Result<void> apply_init(const Json& body);

  /// Resolve a user name ("" = the default user). unauthenticated for an unknown user.
  Result<User> resolve_user(std::string_view name) const;
  /// Whether spawned processes and file access should switch to the user's identity.
  bool switch_identity() const { return !options_.single_user; }

  /// The environment of a new process: PATH, HOME, USER, LOGNAME, then the /init envVars,
  /// then `request_envs` (later wins), as "KEY=value" strings.
  std::vector<std::string> build_env(const User& user,
                                     const std::map<std::string, std::string>& request_envs) const;

  const std::map<std::string, std::string>& env_vars() const { return env_vars_; }
  const std::string& default_workdir() const { return default_workdir_; }
  const std::string& access_token() const { return access_token_; }
  /// The code interpreter's traffic token (E2B-Traffic-Access-Token), from /init.
  const std::string& traffic_token() const { return traffic_token_; }
  /// Where passwd and group are read (for owner names).
  const std::string& etc_dir() const { return options_.etc_dir; }

 private:
  AgentOptions options_;
  UserDb users_;
  std::map<std::string, std::string> env_vars_;
  std::string default_user_ = "user";
  std::string default_workdir_;
  std::string access_token_;
  std::string traffic_token_;
  std::string self_home_;  ///< single-user mode: $HOME of the agent
};

}  // namespace nexus::agent
