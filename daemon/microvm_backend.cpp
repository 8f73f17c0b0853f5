// SPDX-License-Identifier: Apache-2.0
// MicrovmBackend implementation.
#include "daemon/microvm_backend.hpp"

#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <limits>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "common/strings.hpp"
#include "common/unique_fd.hpp"
#include "daemon/fs_helpers.hpp"
#include "daemon/jail/jail.hpp"
#include "daemon/microvm/agent_wait.hpp"
#include "daemon/microvm/control_client.hpp"
#include "daemon/microvm/hybrid_vsock.hpp"
#include "daemon/microvm/vmm_config.hpp"
#include "daemon/microvm/vmm_process.hpp"

namespace nexus::daemon {
namespace {

constexpr uint64_t kVmmOverheadMib = 64;       // the VMM's own memory beside the guest's
constexpr uint64_t kControlTimeoutMs = 5000;   // pause and resume answer at once

// VMMs jail themselves as distinct ids from config.vmm_uid on: one monitor taken over by its
// guest cannot signal, ptrace or read another's files as the same user.
constexpr uint32_t kVmmIdRange = 65536;

// The real uid of a running process (an adopted VMM's, after it jailed itself).
std::optional<uint32_t> process_uid(pid_t pid) {
  std::ifstream status(fmt::format("/proc/{}/status", pid));
  std::string key;
  while (status >> key) {
    if (key == "Uid:") {
      uint32_t uid;
      if (status >> uid) return uid;
      return std::nullopt;
    }
    status.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return std::nullopt;
}

jail::Handle jail_handle(const microvm::VmmHandle& h) {
  jail::Handle j;
  j.pid = h.pid;
  j.start_time = h.start_time;
  return j;
}

}  // namespace

struct MicrovmBackend::Vm {
  std::string id;
  microvm::SandboxPaths paths;
  microvm::VmmHandle handle;
  bool booting = false;
  bool exited = false;
  std::function<void(Result<void>)> done;  // the pending start's, until it is called
  std::string exit_reason;
  uint32_t id_offset = kVmmIdRange;  // its uid/gid is config.vmm_uid/gid + this; none yet
  UniqueFd pidfd;                 // declared before `poll`: the poll goes first
  std::unique_ptr<uv::Poll> poll;
  std::unique_ptr<microvm::AgentWait> boot;
};

MicrovmBackend::MicrovmBackend(uv::Loop& loop, const DaemonConfig& config, ExitReport on_exit)
    : loop_(loop), config_(config), on_exit_(std::move(on_exit)), images_(loop, config), cancel_timer_(loop) {}

MicrovmBackend::~MicrovmBackend() = default;

MicrovmBackend::Vm* MicrovmBackend::find(const std::string& id) {
  auto it = vms_.find(id);
  return it == vms_.end() ? nullptr : it->second.get();
}

void MicrovmBackend::start(const SandboxRecord& r, const rootfs::TemplateInfo& tpl,
                           std::function<void(pid_t, uint64_t)> spawned, std::function<void(Result<void>)> done) {
  auto paths = microvm::sandbox_paths(config_.sandbox_dir(r.id));
  if (auto c = microvm::check_socket_paths(paths); !c) return done(fail(c.error()));
  if (auto m = mkdir_p(paths.dir, 0700); !m) return done(fail(m.error()));
  auto vm = std::make_unique<Vm>();
  vm->id = r.id;
  vm->paths = paths;
  vm->booting = true;
  vm->done = std::move(done);
  vms_[r.id] = std::move(vm);
  std::string id = r.id;
  int cpus = r.cpus, memory_mib = r.memory_mib;
  images_.template_image(tpl, [this, id, cpus, memory_mib, spawned = std::move(spawned)](Result<std::string> image) {
    Vm* v = find(id);
    if (!v) return;  // destroyed while the image was being made: destroy() answered
    if (!image) return finish_start(id, fail(image.error()));
    launch(*v, *image, cpus, memory_mib, spawned);
  });
}

void MicrovmBackend::finish_start(const std::string& id, Result<void> r) {
  Vm* vm = find(id);
  if (!vm || !vm->done) return;
  vm->booting = false;
  auto done = std::move(vm->done);
  vm->done = nullptr;
  done(std::move(r));  // may destroy() the Vm: nothing after this
}

void MicrovmBackend::launch(Vm& vm, const std::string& image, int cpus, int memory_mib,
                            const std::function<void(pid_t, uint64_t)>& spawned) {
  std::string id = vm.id;
  if (auto d = images_.make_disk(vm.paths.disk); !d) return finish_start(id, fail(d.error()));
  microvm::VmmSpec spec;
  spec.id = vm.id;
  spec.vmm_path = config_.vmm_path;
  spec.paths = vm.paths;
  spec.config = microvm::sandbox_vmm_config(vm.id, vm.paths, config_.guest_kernel, config_.agent_initrd, image, cpus,
                                            memory_mib, unix_now_ms());
  auto offset = free_id_offset();
  if (!offset) return finish_start(id, fail(std::move(offset).error()));
  vm.id_offset = *offset;
  spec.config.jail_uid = config_.vmm_uid + *offset;
  spec.config.jail_gid = config_.vmm_gid + *offset;
  spec.limits.cpus = cpus;
  spec.limits.memory_bytes = (static_cast<uint64_t>(memory_mib) + kVmmOverheadMib) << 20;
  spec.limits.pids = config_.pids_limit;
  auto handle = microvm::spawn_vmm(spec);
  if (!handle) return finish_start(id, fail(std::move(handle).error().wrap("starting the microVM")));
  vm.handle = *handle;
  spawned(handle->pid, handle->start_time);
  watch(vm);

  microvm::AgentWaitOptions options;
  options.deadline_ms = config_.boot_timeout_ms;
  auto check = [this, id]() -> Result<void> {
    Vm* v = find(id);
    if (!v) return fail(Errc::unavailable, "the sandbox was stopped");
    if (v->exited || !jail::alive(jail_handle(v->handle)))
      return fail(Errc::unavailable, "the microVM ended while booting: " +
                                         (v->exit_reason.empty() ? std::string("nexus-vmm exited") : v->exit_reason));
    return {};
  };
  auto finished = [this, id](Result<void> r) {
    Vm* v = find(id);
    if (!r && v && r.error().is(Errc::timeout)) {
      std::string console = microvm::last_log_line(v->paths.serial_log);
      if (!console.empty()) r = fail(std::move(r).error().wrap(fmt::format("(console: {})", console)));
    }
    if (!r) return finish_start(id, fail(std::move(r).error().wrap("booting the microVM")));
    finish_start(id, {});
  };
  vm.boot = std::make_unique<microvm::AgentWait>(loop_, microvm::vsock_endpoint(vm.paths.vsock, microvm::kAgentVsockPort),
                                                 options, std::move(check), std::move(finished));
  vm.boot->start();
}

Result<uint32_t> MicrovmBackend::free_id_offset() const {
  std::vector<bool> used(kVmmIdRange);
  for (const auto& [id, vm] : vms_)
    if (vm->id_offset < kVmmIdRange) used[vm->id_offset] = true;
  for (uint32_t i = 0; i < kVmmIdRange; ++i)
    if (!used[i]) return i;
  return fail(Errc::unavailable, fmt::format("all {} microVM user ids are in use", kVmmIdRange));
}

void MicrovmBackend::watch(Vm& vm) {
  vm.pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, vm.handle.pid, 0)));
  if (!vm.pidfd) return;  // gone already, or no pidfds: the manager's sweeper notices
  vm.poll = std::make_unique<uv::Poll>(loop_, vm.pidfd.get());
  std::string id = vm.id;
  vm.poll->start(UV_READABLE, [this, id](int, int) { vmm_exited(id); });
}

void MicrovmBackend::vmm_exited(const std::string& id) {
  Vm* vm = find(id);
  if (!vm || vm->exited) return;
  vm->poll->stop();
  vm->exited = true;
  int status = 0;
  bool reaped = ::waitpid(vm->handle.pid, &status, WNOHANG) == vm->handle.pid;  // ours unless adopted
  std::string log = microvm::last_log_line(vm->paths.vmm_log);
  SandboxState state = SandboxState::failed;
  std::string reason = "nexus-vmm exited (its exit status went to an earlier nexusd)";
  if (reaped && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    state = SandboxState::stopped;
    reason = "the guest powered off";
  } else if (reaped && WIFEXITED(status)) {
    reason = fmt::format("nexus-vmm exited with status {}", WEXITSTATUS(status));
  } else if (reaped && WIFSIGNALED(status)) {
    reason = fmt::format("nexus-vmm was killed by signal {}", WTERMSIG(status));
  }
  if (state == SandboxState::failed && !log.empty()) reason += (reaped ? ": " : "; its log ends: ") + log;
  vm->exit_reason = reason;
  if (vm->booting) return;  // the boot wait fails with it
  on_exit_(id, state, std::move(reason));  // may destroy() the Vm: nothing after this
}

void MicrovmBackend::adopt(const SandboxRecord& r) {
  auto vm = std::make_unique<Vm>();
  vm->id = r.id;
  vm->paths = microvm::sandbox_paths(config_.sandbox_dir(r.id));
  vm->handle = {static_cast<pid_t>(r.pid), r.pid_start_time};
  if (auto uid = process_uid(vm->handle.pid); uid && *uid >= config_.vmm_uid && *uid - config_.vmm_uid < kVmmIdRange)
    vm->id_offset = *uid - config_.vmm_uid;
  Vm& ref = *vm;
  vms_[r.id] = std::move(vm);
  watch(ref);
}

http::Endpoint MicrovmBackend::agent_endpoint(const SandboxRecord& r) const {
  return microvm::vsock_endpoint(microvm::sandbox_paths(config_.sandbox_dir(r.id)).vsock, microvm::kAgentVsockPort);
}

Result<void> MicrovmBackend::pause(const SandboxRecord& r) {
  auto paths = microvm::sandbox_paths(config_.sandbox_dir(r.id));
  if (auto res = microvm::control_request(paths.control, Json{{"op", "pause"}}, kControlTimeoutMs); !res)
    return fail(std::move(res).error().wrap("pausing"));
  return {};
}

Result<void> MicrovmBackend::resume(const SandboxRecord& r) {
  auto paths = microvm::sandbox_paths(config_.sandbox_dir(r.id));
  if (auto res = microvm::control_request(paths.control, Json{{"op", "resume"}}, kControlTimeoutMs); !res)
    return fail(std::move(res).error().wrap("resuming"));
  return {};
}

Result<void> MicrovmBackend::destroy(const SandboxRecord& r) {
  microvm::VmmHandle h{static_cast<pid_t>(r.pid), r.pid_start_time};
  if (Vm* vm = find(r.id)) {
    if (vm->handle.pid > 0) h = vm->handle;
    // A start in progress still owes its caller an answer; it gets it from the loop, after
    // this teardown (not from inside it).
    if (vm->done) {
      cancelled_.push_back(std::move(vm->done));
      cancel_timer_.start(0, 0, [this] {
        auto pending = std::move(cancelled_);
        cancelled_.clear();
        for (auto& d : pending) d(fail(Errc::conflict, "the sandbox was stopped while it was starting"));
      });
    }
  }
  vms_.erase(r.id);  // cancels a boot in progress and the exit watch
  std::string dir = config_.sandbox_dir(r.id);
  // Only a running guest can power off cleanly; a paused or booting one is killed at once.
  uint64_t grace = r.state == SandboxState::running ? config_.vmm_stop_timeout_ms : 0;
  auto stopped = microvm::stop_vmm(h, microvm::sandbox_paths(dir).control, grace);
  // The cgroup (and anything left in it) and the sandbox directory go the way a jail's do.
  auto cleaned = jail::destroy(r.id, jail_handle(h), dir);
  if (!stopped) return stopped;
  return cleaned;
}

}  // namespace nexus::daemon
