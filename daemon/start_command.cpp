// SPDX-License-Identifier: Apache-2.0
// A template's start command and its restart policy.
#include "daemon/start_command.hpp"

#include <algorithm>

#include "common/log.hpp"

namespace nexus::daemon {
namespace {
constexpr const char* kLog = "daemon.sandbox";
constexpr std::chrono::milliseconds kFirstBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{30'000};
constexpr std::chrono::seconds kLongRun{10};  // a run this long resets the back-off
}  // namespace

StartCommand::StartCommand(uv::Loop& loop, std::string sandbox_id, rootfs::Command command, rootfs::Restart restart,
                           std::function<AgentClient*()> agent)
    : timer_(loop),
      id_(std::move(sandbox_id)),
      command_(std::move(command)),
      restart_(restart),
      agent_(std::move(agent)),
      self_(std::make_shared<StartCommand*>(this)) {}

StartCommand::~StartCommand() {
  *self_ = nullptr;
  timer_.stop();
  if (call_) call_->cancel();  // the stream only: the sandbox is going away with its processes
}

bool StartCommand::should_restart(const rootfs::Restart& policy, const ProcessEnd& end, int restarts) {
  switch (policy.policy) {
    case rootfs::RestartPolicy::never: return false;
    case rootfs::RestartPolicy::always: return true;
    case rootfs::RestartPolicy::on_failure:
      if (end.exited && end.exit_code == 0) return false;
      return policy.max_restarts == 0 || restarts < policy.max_restarts;
  }
  return false;
}

std::chrono::milliseconds StartCommand::backoff(int attempt) {
  auto d = kFirstBackoff;
  for (int i = 0; i < attempt && d < kMaxBackoff; ++i) d *= 2;
  return std::min(d, kMaxBackoff);
}

void StartCommand::start() {
  AgentClient* agent = agent_();
  auto argv = command_.to_argv();
  if (!agent || argv.empty()) return;
  ProcessSpec spec;
  spec.cmd = argv[0];
  spec.args.assign(argv.begin() + 1, argv.end());
  spec.user = "";  // the agent's default: the template's user
  std::weak_ptr<StartCommand*> weak = self_;
  ProcessCallbacks cb;
  std::string id = id_;
  int run = ++runs_;
  cb.on_start = [id, run](uint32_t pid) { log::info(kLog, "sandbox {}: start command running (pid {}, run {})", id, pid, run); };
  cb.on_end = [weak](const ProcessEnd& e) {
    if (auto s = weak.lock(); s && *s) (*s)->ended(e);
  };
  cb.on_done = [weak, id, run](Result<void> r) {
    if (!r) log::warning(kLog, "sandbox {}: start command: {}", id, r.error().message());
    if (auto s = weak.lock(); s && *s && (*s)->runs_ == run) (*s)->call_.reset();  // this run's call is done
  };
  started_ = std::chrono::steady_clock::now();
  call_ = agent->start(spec, std::move(cb));
}

void StartCommand::ended(const ProcessEnd& end) {
  log::info(kLog, "sandbox {}: start command ended ({})", id_, end.status.empty() ? end.error : end.status);
  if (std::chrono::steady_clock::now() - started_ >= kLongRun) attempt_ = 0;
  if (!should_restart(restart_, end, restarts_)) {
    if (restart_.policy != rootfs::RestartPolicy::never)
      log::info(kLog, "sandbox {}: start command not restarted (policy {}, {} restarts)", id_,
                rootfs::restart_policy_name(restart_.policy), restarts_);
    return;
  }
  auto wait = backoff(attempt_++);
  ++restarts_;
  log::info(kLog, "sandbox {}: restarting the start command in {} ms (restart {}, policy {})", id_, wait.count(),
            restarts_, rootfs::restart_policy_name(restart_.policy));
  std::weak_ptr<StartCommand*> weak = self_;
  timer_.start(static_cast<uint64_t>(wait.count()), 0, [weak] {
    if (auto s = weak.lock(); s && *s) (*s)->start();
  });
}

}  // namespace nexus::daemon
