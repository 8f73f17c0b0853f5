// SPDX-License-Identifier: Apache-2.0
// The jail isolation backend: start, freeze, thaw, inspect and destroy a namespace sandbox.
//
// A jail is a process tree in its own user, pid, mount, network, UTS, IPC and cgroup
// namespaces, rooted in an overlayfs (template tree as the lower layer, a per-sandbox upper
// layer), limited by cgroups (v1 or v2), with a reduced capability set, no_new_privs and a
// seccomp filter. Its PID 1 is the nexus-agent. See docs/DESIGN.md section 6.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace nexus::jail {

struct Limits {
  int cpus = 1;                          ///< CPU quota in whole CPUs; <= 0: no quota
  uint64_t memory_bytes = 512ull << 20;  ///< memory limit, swap included; 0: no limit
  uint64_t pids = 256;                   ///< max number of tasks; 0: no limit
};

struct Spec {
  /// Sandbox id ("sb_..."): names the cgroups and is the hostname. [A-Za-z0-9_.-], <= 64.
  std::string id;
  /// Template rootfs tree, the read-only lower layer. Owned by shifted ids (uid_base = root).
  std::string lower_dir;
  /// Per-sandbox state directory on the host. spawn() creates upper/, work/ and rootfs/ in it.
  std::string sandbox_dir;
  /// Host path of the statically linked nexus-agent, executed as PID 1 inside.
  std::string agent_path;
  std::vector<std::string> agent_args;  ///< argv[1..]
  std::vector<std::string> env;         ///< "K=V"; LISTEN_FDS/LISTEN_PID are added if absent
  /// A listening Unix socket, passed as fd 3. Borrowed: spawn() dups it, the caller still
  /// owns (and may close) its fd. -1: no fd 3.
  int listen_fd = -1;
  Limits limits;
  uint32_t uid_base = 100000;  ///< container uid/gid 0 maps to host uid_base
  uint32_t uid_count = 65536;  ///< number of mapped ids
  std::string log_path;        ///< agent stdout/stderr are appended here; empty: /dev/null
  /// A network namespace to join (net::create_sandbox_network's bind mount) instead of a new
  /// one with only loopback. Owned by the host's user namespace, so the sandbox cannot
  /// reconfigure it.
  std::string netns_path;
};

struct Handle {
  pid_t pid = -1;           ///< host pid of the sandbox init (the agent)
  uint64_t start_time = 0;  ///< /proc/PID/stat field 22, to detect pid reuse
};

struct Usage {
  uint64_t memory_bytes = 0;  ///< current memory use of the cgroup
  uint64_t pids = 0;          ///< current number of tasks
  uint64_t cpu_ns = 0;        ///< CPU time used so far
};

/// Start a sandbox. Returns once the agent has been exec'd; an error names the failed step,
/// e.g. "mounting overlay on '/var/lib/nexus/sandboxes/sb_x/rootfs': Invalid argument".
///
/// The agent becomes a direct child of the calling process (so it can waitpid() it; it must
/// reap it, e.g. via pidfd_open + poll, or by calling destroy()). No parent-death signal is
/// set: the sandbox outlives the daemon, which re-adopts it with alive(). On failure, the
/// processes and cgroups created are removed; sandbox_dir is left for destroy().
Result<Handle> spawn(const Spec& spec);

/// Freeze every process of the sandbox (cgroup freezer) and wait until it is frozen.
Result<void> freeze(const std::string& id);
/// Undo freeze().
Result<void> thaw(const std::string& id);
/// True while the process exists, is not a zombie, and has the same start time.
bool alive(const Handle& handle);

/// Kill the whole sandbox, wait for it to go, remove its cgroups, unmount anything left
/// under sandbox_dir and remove sandbox_dir. Idempotent: succeeds when parts are already
/// gone (cleanup after a daemon crash). Reaps the agent if it is a child of the caller.
Result<void> destroy(const std::string& id, const Handle& handle,
                     const std::string& sandbox_dir);

/// Resource use of the sandbox's cgroups (for status; best effort).
Result<Usage> usage(const std::string& id);

}  // namespace nexus::jail
