// SPDX-License-Identifier: Apache-2.0
// One kernel process: its driver's stdin, raw stdout/stderr, events FIFO and death watch.
//
// Thread affinity: the loop thread. Listener callbacks may destroy or kill the kernel.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "common/uv.hpp"
#include "guest-agent/interpreter_fifo.hpp"
#include "guest-agent/interpreter_language.hpp"
#include "guest-agent/interpreter_protocol.hpp"
#include "guest-agent/interpreter_text.hpp"

namespace nexus::agent {

class KernelListener {
 public:
  virtual ~KernelListener() = default;
  /// Raw stdout/stderr bytes, from the moment the driver reported ready.
  virtual void on_kernel_output(bool is_stderr, std::string_view bytes) = 0;
  /// A validated event (not "ready"); output written before it was delivered first.
  virtual void on_kernel_event(const KernelEvent& event) = 0;
  /// The kernel process is gone (called once, last). `startup_output` is what it printed
  /// before it became ready, to explain a kernel that never started.
  virtual void on_kernel_exit(std::string_view startup_output) = 0;
};

struct KernelOptions {
  Language language = Language::python;
  std::string cwd;
  std::vector<std::string> env;  ///< "KEY=value"
  bool change_identity = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  std::string fifo_parent = "/tmp";  ///< where the events FIFO's directory goes
};

class Kernel : public std::enable_shared_from_this<Kernel> {
 public:
  static constexpr size_t kReadChunk = 64 * 1024;
  static constexpr size_t kMaxEventLine = 32 * 1024 * 1024;
  static constexpr size_t kMaxStartupOutput = 16 * 1024;
  static constexpr size_t kMaxDrainBytes = 4 * 1024 * 1024;
  static constexpr size_t kMaxStdinQueue = 64 * 1024 * 1024;

  /// Spawn the kernel (not reaped here: the agent's reaper collects it).
  static Result<std::shared_ptr<Kernel>> start(uv::Loop& loop, const KernelOptions& options,
                                               KernelListener* listener);
  ~Kernel();
  Kernel(const Kernel&) = delete;
  Kernel& operator=(const Kernel&) = delete;

  pid_t pid() const { return pid_; }
  bool ready() const { return ready_; }
  bool exited() const { return exited_; }

  /// Queue bytes for the driver's stdin (held back until the driver is ready, so that
  /// whatever it prints before then can be told apart and dropped).
  Result<void> send(std::string_view data);
  /// SIGINT to the kernel's process group (the kernel and the commands it runs).
  void interrupt();
  /// SIGKILL to the kernel's whole process tree; on_kernel_exit follows.
  void kill();
  /// No more listener callbacks (the listener is going away).
  void detach() { listener_ = nullptr; }
  /// Stop reading stdout/stderr while the client cannot keep up.
  void set_output_paused(bool paused);

 private:
  struct Pipe {
    UniqueFd fd;
    std::unique_ptr<uv::Poll> poll;
    bool is_stderr = false;
  };
  Kernel(uv::Loop& loop, pid_t pid);
  void watch_pipes();
  void on_pipe_readable(Pipe& pipe);
  /// Read what a pipe holds now; false once it reached EOF.
  bool read_pipe(Pipe& pipe, size_t limit);
  void drain_output();
  void deliver_output(bool is_stderr, std::string_view bytes);
  void on_events_readable();
  void on_event_line(std::string_view line, bool oversized);
  void on_process_gone();
  void flush_stdin();

  uv::Loop& loop_;
  pid_t pid_;
  KernelListener* listener_ = nullptr;
  std::unique_ptr<EventFifo> fifo_;
  std::unique_ptr<uv::Poll> fifo_poll_;
  LineSplitter events_{kMaxEventLine};
  Pipe out_;
  Pipe err_;
  UniqueFd stdin_fd_;
  std::unique_ptr<uv::Poll> stdin_poll_;
  std::string stdin_queue_;
  std::string held_input_;  ///< requests sent before the driver was ready
  UniqueFd pidfd_;
  std::unique_ptr<uv::Poll> pidfd_poll_;
  std::unique_ptr<uv::Timer> liveness_timer_;  ///< without pidfd: poll kill(pid, 0)
  std::string startup_output_;
  bool ready_ = false;
  bool exited_ = false;
  bool paused_ = false;
};

}  // namespace nexus::agent
