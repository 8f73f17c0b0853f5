// SPDX-License-Identifier: Apache-2.0
// /init settings, user resolution and process environments.
#include "guest-agent/agent_state.hpp"

#include <unistd.h>

#include <cstdlib>

#include <fmt/format.h>

#include "guest-agent/network_files.hpp"

namespace nexus::agent {

AgentState::AgentState(AgentOptions options)
    : options_(std::move(options)), users_(options_.etc_dir) {
  if (const char* h = std::getenv("HOME"); h && *h == '/') self_home_ = h;
}

Result<void> AgentState::apply_init(const Json& body) {
  if (!body.is_object()) return fail(Errc::invalid_argument, "init body must be a JSON object");
  std::map<std::string, std::string> envs = env_vars_;
  if (auto it = body.find("envVars"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return fail(Errc::invalid_argument, "'envVars' must be an object");
    envs.clear();
    for (const auto& [k, v] : it->items()) {
      if (!v.is_string()) return fail(Errc::invalid_argument, "'envVars' values must be strings");
      if (k.empty() || k.find('=') != std::string::npos || k.find('\0') != std::string::npos)
        return fail(Errc::invalid_argument, fmt::format("invalid environment variable name '{}'", k));
      envs[k] = v.get<std::string>();
    }
  }
  auto user = json_string(body, "defaultUser", default_user_);
  if (!user) return fail(std::move(user).error());
  auto workdir = json_string(body, "defaultWorkdir", default_workdir_);
  if (!workdir) return fail(std::move(workdir).error());
  if (!workdir->empty() && workdir->front() != '/')
    return fail(Errc::invalid_argument, "'defaultWorkdir' must be an absolute path");
  auto token = json_string(body, "accessToken", access_token_);
  if (!token) return fail(std::move(token).error());
  auto traffic = json_string(body, "trafficAccessToken", traffic_token_);
  if (!traffic) return fail(std::move(traffic).error());
  // Nexus's own field: the sandbox's DNS server and, with credential injection, the gateway CA.
  if (auto it = body.find("network"); it != body.end() && !options_.single_user) {
    auto files = network_files_from_json(*it);
    if (!files) return fail(std::move(files).error());
    NEXUS_TRY(write_network_files(options_.etc_dir, *files));
  }
  env_vars_ = std::move(envs);
  if (!user->empty()) default_user_ = std::move(*user);
  default_workdir_ = std::move(*workdir);
  access_token_ = std::move(*token);
  traffic_token_ = std::move(*traffic);
  return {};
}

Result<User> AgentState::resolve_user(std::string_view name) const {
  std::string wanted(name.empty() ? std::string_view(default_user_) : name);
  if (options_.single_user) {
    auto self = users_.lookup_uid(::getuid());
    bool known = wanted == default_user_ || wanted == "user" || wanted == "root" ||
                 (self && self->name == wanted) || users_.lookup(wanted).has_value();
    if (!known) return fail(Errc::unauthenticated, fmt::format("invalid username: '{}'", wanted));
    User u;
    u.name = wanted;
    u.uid = ::getuid();
    u.gid = ::getgid();
    u.home = !self_home_.empty() ? self_home_ : (self ? self->home : std::string("/"));
    u.shell = "/bin/sh";
    u.groups = {u.gid};
    return u;
  }
  auto u = users_.lookup(wanted);
  if (!u) {
    if (u.error().is(Errc::not_found))
      return fail(Errc::unauthenticated, fmt::format("invalid username: '{}'", wanted));
    return fail(std::move(u).error());
  }
  return u;
}

std::vector<std::string> AgentState::build_env(
    const User& user, const std::map<std::string, std::string>& request_envs) const {
  std::vector<std::pair<std::string, std::string>> ordered = {
      {"PATH", std::string(kDefaultPath)},
      {"HOME", user.home},
      {"USER", user.name},
      {"LOGNAME", user.name},
  };
  auto put = [&](const std::string& k, const std::string& v) {
    for (auto& kv : ordered)
      if (kv.first == k) {
        kv.second = v;
        return;
      }
    ordered.emplace_back(k, v);
  };
  for (const auto& [k, v] : env_vars_) put(k, v);
  for (const auto& [k, v] : request_envs) put(k, v);
  std::vector<std::string> out;
  out.reserve(ordered.size());
  for (auto& [k, v] : ordered) out.push_back(k + "=" + v);
  return out;
}

}  // namespace nexus::agent
