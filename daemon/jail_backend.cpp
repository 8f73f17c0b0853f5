// SPDX-License-Identifier: Apache-2.0
// JailBackend implementation.
#include "daemon/jail_backend.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "daemon/fs_helpers.hpp"
#include "daemon/jail/jail.hpp"

namespace nexus::daemon {
namespace {


jail::Handle handle_of(const SandboxRecord& r) {
  jail::Handle h{};
  h.pid = static_cast<pid_t>(r.pid);
  h.start_time = r.pid_start_time;
  return h;
}

}  // namespace

void JailBackend::start(const SandboxRecord& r, const rootfs::TemplateInfo& tpl,
                        std::function<void(pid_t, uint64_t)> spawned, std::function<void(Result<void>)> done) {
  if (auto res = mkdir_p(config_.agent_socket_dir(r.id), 0700); !res) return done(fail(res.error()));
  auto listen_fd = listen_agent_socket(config_.agent_socket(r.id), 128);
  if (!listen_fd) return done(fail(listen_fd.error()));

  jail::Spec spec;
  spec.id = r.id;
  spec.lower_dir = tpl.rootfs_path;
  spec.sandbox_dir = config_.sandbox_dir(r.id);
  spec.agent_path = config_.agent_path;
  spec.agent_args = {"--listen-fd", "3"};
  spec.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LISTEN_FDS=1"};
  spec.listen_fd = listen_fd->get();
  spec.limits.cpus = r.cpus;
  spec.limits.memory_bytes = static_cast<uint64_t>(r.memory_mib) << 20;
  spec.limits.pids = config_.pids_limit;
  spec.uid_base = config_.uid_base;
  spec.uid_count = config_.uid_count;
  spec.log_path = spec.sandbox_dir + "/agent.log";  // removed with the sandbox dir
  if (r.net_index >= 0) spec.netns_path = config_.netns_dir() + "/" + r.id;  // made by Networking
  auto handle = jail::spawn(spec);
  listen_fd->reset();  // the agent holds the listening socket now
  if (!handle) return done(fail(std::move(handle.error()).wrap("starting the sandbox")));
  spawned(handle->pid, handle->start_time);
  done({});  // the socket was listening before the agent started
}

http::Endpoint JailBackend::agent_endpoint(const SandboxRecord& r) const {
  return http::Endpoint::unix_socket(config_.agent_socket(r.id));
}

Result<void> JailBackend::pause(const SandboxRecord& r) {
  if (auto res = jail::freeze(r.id); !res) return fail(std::move(res.error()).wrap("pausing"));
  return {};
}

Result<void> JailBackend::resume(const SandboxRecord& r) {
  if (auto res = jail::thaw(r.id); !res) return fail(std::move(res.error()).wrap("resuming"));
  return {};
}

Result<void> JailBackend::destroy(const SandboxRecord& r) {
  auto res = jail::destroy(r.id, handle_of(r), config_.sandbox_dir(r.id));
  std::error_code ec;
  std::filesystem::remove_all(config_.agent_socket_dir(r.id), ec);
  return res;
}

}  // namespace nexus::daemon
