// SPDX-License-Identifier: Apache-2.0
// AgentClient: nexusd's client for one sandbox agent (envd protocol over the agent's Unix
// socket, or a microVM's hybrid vsock socket: the endpoint says which).
//
// Thread affinity: the daemon loop thread. Everything the agent says is untrusted.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/http.hpp"
#include "common/json.hpp"
#include "common/result.hpp"
#include "common/uv.hpp"

namespace nexus::daemon {

struct ProcessSpec {
  std::string cmd;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::string cwd;              ///< empty: the user's home
  std::string user = "user";
  bool stdin_pipe = false;
  uint64_t timeout_ms = 0;      ///< 0: no limit; else Connect-Timeout-Ms (the agent kills the tree)
};

struct ProcessEnd {
  int exit_code = 0;
  bool exited = true;
  std::string status;  ///< "exit status 3", "signal: killed"
  std::string error;
};

struct ProcessCallbacks {
  std::function<void(uint32_t pid)> on_start;
  std::function<void(std::string_view)> on_stdout;
  std::function<void(std::string_view)> on_stderr;
  std::function<void(const ProcessEnd&)> on_end;
  /// Last callback, exactly once. Error codes: Errc::timeout for deadline_exceeded,
  /// Errc::unavailable when the agent is unreachable, Errc::protocol for garbage.
  std::function<void(Result<void>)> on_done;
};

/// A running Start stream. cancel() drops the stream (the process keeps running).
class ProcessCall {
 public:
  virtual ~ProcessCall() = default;
  virtual void cancel() = 0;
  virtual void pause() = 0;
  virtual void resume() = 0;
};

class AgentClient {
 public:
  /// `access_token` is sent as X-Access-Token once the agent has been given it by init().
  AgentClient(uv::Loop& loop, http::Endpoint endpoint, std::string access_token)
      : loop_(loop), endpoint_(std::move(endpoint)), token_(std::move(access_token)) {}

  /// POST /init with the sandbox-level settings.
  void init(const Json& body, std::function<void(Result<void>)> done);
  /// process.Process/Start, streamed.
  std::shared_ptr<ProcessCall> start(const ProcessSpec& spec, ProcessCallbacks callbacks);
  /// process.Process/SendSignal with SIGNAL_SIGKILL (the agent kills the process tree).
  void kill(uint32_t pid, std::function<void(Result<void>)> done);

 private:
  void unary(const std::string& method, const Json& body, std::function<void(Result<Json>)> done);

  void add_token(http::Headers& h) const {
    if (!token_.empty()) h.set("X-Access-Token", token_);
  }

  uv::Loop& loop_;
  http::Endpoint endpoint_;
  std::string token_;
};

}  // namespace nexus::daemon
