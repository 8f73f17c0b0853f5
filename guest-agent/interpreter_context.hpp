// SPDX-License-Identifier: Apache-2.0
// One code-interpreter context: a kernel, its execution counter and a queue of executions
// that run one at a time.
//
// The kernel starts when the context is created and again, lazily, on the next execution
// after it died. A client that disconnects mid-execution interrupts it (SIGINT); a kernel
// that does not finish within kInterruptGraceMs is killed and restarts on the next execution.
//
// Thread affinity: the loop thread.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "common/json.hpp"
#include "common/result.hpp"
#include "common/uv.hpp"
#include "guest-agent/agent_state.hpp"
#include "guest-agent/interpreter_execution.hpp"
#include "guest-agent/interpreter_kernel.hpp"
#include "guest-agent/interpreter_language.hpp"

namespace nexus::agent {

class Context : public KernelListener, public std::enable_shared_from_this<Context> {
 public:
  static constexpr uint64_t kInterruptGraceMs = 3000;

  Context(uv::Loop& loop, const AgentState& state, std::string id, Language language,
          std::string cwd);
  ~Context() override;
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  const std::string& id() const { return id_; }
  Language language() const { return language_; }
  const std::string& cwd() const { return cwd_; }
  /// {"id","language","cwd"}
  Json describe() const;

  /// Start the kernel unless it is running.
  Result<void> ensure_kernel();
  /// Open the execution's response and queue it.
  void submit(std::shared_ptr<Execution> execution);
  /// Kill the kernel and start a fresh one (same id, state gone). A running execution ends
  /// with an error; queued ones run on the new kernel.
  Result<void> restart();
  /// Kill the kernel and end every execution with an error (the context is being deleted).
  void close();

  // KernelListener
  void on_kernel_output(bool is_stderr, std::string_view bytes) override;
  void on_kernel_event(const KernelEvent& event) override;
  void on_kernel_exit(std::string_view startup_output) override;

 private:
  void pump();
  void finish_current();
  void on_aborted(const Execution* execution);
  void discard_kernel();

  uv::Loop& loop_;
  const AgentState& state_;
  std::string id_;
  Language language_;
  std::string cwd_;
  std::shared_ptr<Kernel> kernel_;
  uint64_t execution_count_ = 0;
  uint64_t next_request_id_ = 1;
  std::deque<std::shared_ptr<Execution>> queue_;
  std::shared_ptr<Execution> current_;
  uint64_t current_request_ = 0;
  std::unique_ptr<uv::Timer> interrupt_timer_;
  bool closed_ = false;
};

}  // namespace nexus::agent
