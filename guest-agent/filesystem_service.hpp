// SPDX-License-Identifier: Apache-2.0
// The Connect RPC service filesystem.Filesystem: Stat, ListDir, MakeDir, Move, Remove and
// the WatchDir stream (the polling watcher calls answer unimplemented).
#pragma once

#include <memory>
#include <string_view>

#include "common/http.hpp"
#include "common/json.hpp"
#include "common/uv.hpp"
#include "guest-agent/agent_state.hpp"

namespace nexus::agent {

class FilesystemService {
 public:
  FilesystemService(uv::Loop& loop, AgentState& state) : loop_(loop), state_(state) {}
  /// `method` is the part after "/filesystem.Filesystem/".
  void handle(std::string_view method, std::shared_ptr<http::Exchange> ex);

 private:
  /// The acting user (Basic auth, else the default user) and `key` of `req` resolved for them.
  struct Target {
    User user;
    std::string path;
  };
  Result<Target> target(const http::Exchange& ex, const Json& req, const char* key);

  Result<Json> stat(const http::Exchange& ex, const Json& req);
  Result<Json> list_dir(const http::Exchange& ex, const Json& req);
  Result<Json> make_dir(const http::Exchange& ex, const Json& req);
  Result<Json> move(const http::Exchange& ex, const Json& req);
  Result<Json> remove(const http::Exchange& ex, const Json& req);
  void watch_dir(std::shared_ptr<http::Exchange> ex, const Json& req);

  uv::Loop& loop_;
  AgentState& state_;
};

}  // namespace nexus::agent
