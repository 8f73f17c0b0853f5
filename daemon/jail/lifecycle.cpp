// SPDX-License-Identifier: Apache-2.0
// A running jail: freeze, thaw, liveness, resource use, and destroy (idempotent cleanup).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "daemon/jail/cgroup.hpp"
#include "daemon/jail/files.hpp"
#include "daemon/jail/jail.hpp"
#include "daemon/jail/process.hpp"

namespace nexus::jail {
namespace {

constexpr auto kExitTimeout = std::chrono::seconds(10);
constexpr auto kPollInterval = std::chrono::milliseconds(5);

Result<std::unique_ptr<detail::Cgroup>> existing_cgroup(const std::string& id) {
  NEXUS_TRY(detail::check_sandbox_id(id));
  auto cg = detail::open_cgroup(id);
  if (!cg->exists())
    return fail(Errc::not_found, fmt::format("sandbox '{}' has no cgroup", id));
  return cg;
}

// Kill every process in the cgroups until none is left. Freezing first stops a fork loop
// from outrunning the kill; the thaw lets the pending SIGKILLs be delivered (v1 frozen
// tasks do not die until thawed).
Result<void> kill_cgroup(detail::Cgroup& cg, const std::string& id) {
  if (!cg.exists()) return {};
  (void)cg.freeze();  // best effort: a timeout here must not stop the kill
  cg.kill_all();
  (void)cg.thaw();
  auto deadline = std::chrono::steady_clock::now() + kExitTimeout;
  while (!cg.pids().empty()) {
    if (std::chrono::steady_clock::now() > deadline)
      return fail(Errc::timeout, fmt::format("processes of sandbox '{}' did not exit", id));
    cg.kill_all();
    std::this_thread::sleep_for(kPollInterval);
  }
  return {};
}

// Wait until the init is gone; reap it when it is our child (spawn() makes it one).
Result<void> wait_init_gone(const Handle& h) {
  if (h.pid <= 0 || h.start_time == 0) return {};
  auto deadline = std::chrono::steady_clock::now() + kExitTimeout;
  for (;;) {
    auto st = detail::read_proc_stat(h.pid);
    if (!st || st->start_time != h.start_time) return {};  // gone, or the pid was reused
    if (st->state == 'Z' || st->state == 'X') {
      if (st->ppid == ::getpid()) (void)::waitpid(h.pid, nullptr, WNOHANG);
      return {};
    }
    if (std::chrono::steady_clock::now() > deadline)
      return fail(Errc::timeout, fmt::format("sandbox init {} did not exit", h.pid));
    std::this_thread::sleep_for(kPollInterval);
  }
}

}  // namespace

bool alive(const Handle& handle) {
  auto st = detail::read_proc_stat(handle.pid);
  return st && st->state != 'Z' && st->state != 'X' && st->start_time == handle.start_time;
}

Result<void> freeze(const std::string& id) {
  auto cg = existing_cgroup(id);
  if (!cg) return fail(std::move(cg).error());
  if (auto r = (*cg)->freeze(); !r)
    return fail(std::move(r).error().wrap(fmt::format("freezing sandbox '{}'", id)));
  return {};
}

Result<void> thaw(const std::string& id) {
  auto cg = existing_cgroup(id);
  if (!cg) return fail(std::move(cg).error());
  if (auto r = (*cg)->thaw(); !r)
    return fail(std::move(r).error().wrap(fmt::format("thawing sandbox '{}'", id)));
  return {};
}

Result<Usage> usage(const std::string& id) {
  auto cg = existing_cgroup(id);
  if (!cg) return fail(std::move(cg).error());
  return (*cg)->usage();
}

Result<void> destroy(const std::string& id, const Handle& handle, const std::string& sandbox_dir) {
  NEXUS_TRY(detail::check_sandbox_id(id));
  auto cg = detail::open_cgroup(id);
  // Only signal the pid when it is still our init (same start time): after a daemon
  // restart the pid may belong to an unrelated process. Killing PID 1 of the sandbox's pid
  // namespace makes the kernel kill every process in it.
  if (alive(handle)) (void)::kill(handle.pid, SIGKILL);
  NEXUS_TRY(kill_cgroup(*cg, id));
  NEXUS_TRY(wait_init_gone(handle));
  NEXUS_TRY(cg->remove());
  if (!sandbox_dir.empty()) {
    // The overlay lives in the sandbox's own mount namespaces and went with its processes;
    // this catches anything left in ours (e.g. by an older version or a manual mount).
    NEXUS_TRY(detail::unmount_under(sandbox_dir));
    NEXUS_TRY(detail::remove_tree(sandbox_dir));
  }
  return {};
}

}  // namespace nexus::jail
