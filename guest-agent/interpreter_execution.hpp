// SPDX-License-Identifier: Apache-2.0
// One POST /execute: the request and its streamed NDJSON response (D.2).
//
// The response starts (200, headers) as soon as the request is accepted; then
// number_of_executions, stdout/stderr, result and error lines, keepalives every 5 s of
// silence, and end_of_execution last.
//
// Thread affinity: the loop thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/http.hpp"
#include "common/json.hpp"
#include "common/uv.hpp"
#include "guest-agent/interpreter_text.hpp"

namespace nexus::agent {

class Execution : public std::enable_shared_from_this<Execution> {
 public:
  static constexpr uint64_t kKeepaliveMs = 5000;
  static constexpr size_t kHighWater = 1024 * 1024;  ///< pause the kernel's output above this

  Execution(uv::Loop& loop, std::shared_ptr<http::Exchange> ex, std::string code,
            std::map<std::string, std::string> env);
  ~Execution();
  Execution(const Execution&) = delete;
  Execution& operator=(const Execution&) = delete;

  const std::string& code() const { return code_; }
  const std::map<std::string, std::string>& env() const { return env_; }

  /// Send the response headers and start the keepalives. `on_abort` runs once if the
  /// client goes away before end().
  void open(std::function<void()> on_abort);
  void send_count(uint64_t execution_count);
  void send_output(bool is_stderr, std::string_view bytes);
  /// A result line (already has type, is_main_result and mime fields); quotes around a
  /// main text are stripped as the E2B server does.
  void send_result(Json line);
  void send_error(std::string_view name, std::string_view value, std::string_view traceback);
  /// end_of_execution and the end of the response.
  void end();

  bool ended() const { return ended_; }
  bool gone() const;
  /// True while the client is behind; `resume` runs once when it has caught up.
  bool congested(std::function<void()> resume);

 private:
  void send_line(const Json& line);
  void flush_text(bool is_stderr, std::string text);
  void arm_keepalive();

  uv::Loop& loop_;
  std::shared_ptr<http::Exchange> ex_;
  std::string code_;
  std::map<std::string, std::string> env_;
  std::unique_ptr<uv::Timer> keepalive_;
  Utf8Carry stdout_carry_;
  Utf8Carry stderr_carry_;
  bool ended_ = false;
  bool waiting_drain_ = false;
};

}  // namespace nexus::agent
