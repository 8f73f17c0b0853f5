// SPDX-License-Identifier: Apache-2.0
// The E2B code interpreter (port 49999 traffic, told apart by path): POST /execute and
// /contexts, served by nexus-agent without Jupyter. See docs/e2b-protocol.md section D.
//
// Thread affinity: the loop thread.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/http.hpp"
#include "common/uv.hpp"
#include "guest-agent/agent_state.hpp"
#include "guest-agent/interpreter_context.hpp"
#include "guest-agent/interpreter_language.hpp"

namespace nexus::agent {

class InterpreterService {
 public:
  static constexpr size_t kMaxRequestBytes = 16 * 1024 * 1024;  ///< /execute (code and env)
  static constexpr size_t kMaxContextRequestBytes = 64 * 1024;   ///< /contexts
  static constexpr size_t kMaxContexts = 256;

  InterpreterService(uv::Loop& loop, const AgentState& state);
  ~InterpreterService();
  InterpreterService(const InterpreterService&) = delete;
  InterpreterService& operator=(const InterpreterService&) = delete;

  /// "/execute" (the SDK sends the access token).
  static bool is_execute_path(std::string_view path);
  /// "/contexts" and "/contexts/..." (the SDK sends no access token).
  static bool is_contexts_path(std::string_view path);

  void handle(std::shared_ptr<http::Exchange> ex);

 private:
  void execute(std::shared_ptr<http::Exchange> ex, std::string body);
  void create_context(std::shared_ptr<http::Exchange> ex, std::string body);
  void list_contexts(http::Exchange& ex);
  std::shared_ptr<Context> find(std::string_view id) const;
  /// A new context; its kernel starts now, or with `lazy` on its first execution.
  Result<std::shared_ptr<Context>> make_context(Language language, std::string_view cwd, bool lazy = false);
  Result<std::shared_ptr<Context>> default_context(Language language);
  /// The real server starts with default python and javascript contexts, and lists them:
  /// so do we, once, but their kernels start only when first used.
  void ensure_listed_defaults();
  void remove(const std::string& id);

  uv::Loop& loop_;
  const AgentState& state_;
  std::vector<std::shared_ptr<Context>> contexts_;  ///< in creation order
  std::map<Language, std::string> defaults_;        ///< language -> default context id
  bool defaults_listed_ = false;
};

}  // namespace nexus::agent
