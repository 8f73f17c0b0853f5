// SPDX-License-Identifier: Apache-2.0
// One started command: its pipes or terminal, stdin queue, exit status, lifetime deadline and the
// streams subscribed to its output.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/uv.hpp"
#include "guest-agent/exit_status.hpp"
#include "guest-agent/spawn.hpp"

namespace nexus::agent {

/// What the client asked for (reported back by List).
struct ProcessConfig {
  std::string cmd;
  std::vector<std::string> args;
  std::map<std::string, std::string> envs;
  std::string cwd;
};

/// Which stream a chunk of output came from.
enum class OutputKind { stdout_data, stderr_data, pty_data };

/// Receives a process's output and end. Implemented by the RPC streams.
class ProcessSubscriber {
 public:
  virtual ~ProcessSubscriber() = default;
  virtual void on_output(OutputKind kind, std::string_view bytes) = 0;
  /// The process exited and both pipes reached EOF. `deadline_exceeded` when it was killed
  /// because its Connect-Timeout-Ms lifetime ran out. The subscription ends with this call.
  virtual void on_end(const ExitInfo& info, bool deadline_exceeded) = 0;
  /// True while the subscriber cannot take more output; it calls Process::resume_output()
  /// when it can again.
  virtual bool congested() const = 0;
};

class Process : public std::enable_shared_from_this<Process> {
 public:
  static constexpr size_t kReadChunk = 32 * 1024;     ///< pipes (as envd)
  static constexpr size_t kPtyReadChunk = 16 * 1024;  ///< terminals (as envd)
  static constexpr size_t kMaxStdinQueue = 16 * 1024 * 1024;

  Process(uv::Loop& loop, SpawnedProcess spawned, ProcessConfig config,
          std::optional<std::string> tag);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  const ProcessConfig& config() const { return config_; }
  const std::optional<std::string>& tag() const { return tag_; }
  bool exited() const { return exit_.has_value(); }
  bool is_pty() const { return pty_; }

  /// Start reading stdout/stderr. Call after the first subscriber is attached.
  void start_io();
  void subscribe(std::shared_ptr<ProcessSubscriber> sub);
  void unsubscribe(const ProcessSubscriber* sub);
  /// A congested subscriber has drained.
  void resume_output();

  /// Queue bytes for stdin. internal when stdin was not enabled or is closed, or for a
  /// PTY process.
  Result<void> write_stdin(std::string_view data);
  /// Queue bytes for the terminal (keyboard input). internal for a non-PTY process.
  Result<void> write_pty(std::string_view data);
  /// Set the terminal size. internal for a non-PTY process.
  Result<void> resize_pty(PtySize size);
  /// Close stdin once queued bytes are written. No-op when already closed; internal for a
  /// PTY process (it has no stdin pipe).
  Result<void> close_stdin();
  /// Signal the process and its whole tree. False if nothing could be signalled.
  bool signal_tree(int sig);
  /// SendSignal and the deadline: signal the tree; as in envd, a kill (SIGKILL, SIGTERM) also
  /// ends the stream of a reaped process whose descendants still hold its output (it ends
  /// with the leader's exit status).
  bool signal(int sig);
  bool finished() const { return finished_; }
  /// Kill the tree with SIGKILL after `ms` milliseconds (the Connect-Timeout-Ms lifetime).
  void set_deadline(uint64_t ms);

  /// From the reaper: the process's wait status.
  void on_wait_status(int status);
  /// Called once when the process has exited and its output is drained.
  void set_on_finished(std::function<void(Process*)> cb) { on_finished_ = std::move(cb); }

 private:
  struct Pipe {
    UniqueFd fd;
    std::unique_ptr<uv::Poll> poll;
    bool eof = false;
  };
  void on_readable(bool is_stderr);
  Result<void> queue_input(std::string_view data);
  void close_pipe(Pipe& p);
  void end_output();
  void update_polling();
  bool any_congested() const;
  void flush_stdin();
  void maybe_finish();

  uv::Loop& loop_;
  pid_t pid_;
  ProcessConfig config_;
  std::optional<std::string> tag_;
  bool pty_ = false;  ///< out_ is the terminal master and stdin_fd_ a duplicate of it
  Pipe out_;
  Pipe err_;
  bool io_started_ = false;
  bool paused_ = false;
  UniqueFd stdin_fd_;
  std::unique_ptr<uv::Poll> stdin_poll_;
  std::string stdin_queue_;
  bool stdin_enabled_ = false;
  bool stdin_close_requested_ = false;
  std::optional<int> wait_status_;
  std::optional<ExitInfo> exit_;
  bool deadline_hit_ = false;
  bool finished_ = false;
  std::unique_ptr<uv::Timer> deadline_timer_;
  std::vector<std::shared_ptr<ProcessSubscriber>> subscribers_;
  std::function<void(Process*)> on_finished_;
};

}  // namespace nexus::agent
