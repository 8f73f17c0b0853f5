// SPDX-License-Identifier: Apache-2.0
// Finding and signalling a process tree: session, process group and /proc ppid links.
#pragma once

#include <sys/types.h>

#include <set>
#include <string_view>
#include <vector>

namespace nexus::agent {

struct ProcStat {
  pid_t pid = 0;
  pid_t ppid = 0;
  pid_t pgrp = 0;
  pid_t session = 0;
};

/// Parse the text of /proc/<pid>/stat (the comm field may contain spaces and ')').
bool parse_proc_stat(std::string_view text, ProcStat& out);

/// Every process in `/proc` that belongs to the tree of `leader`: in its session or process
/// group (the leader called setsid), or a descendant of any such process by ppid (children
/// that called setsid themselves). Includes `leader` itself if it still exists.
std::set<pid_t> find_process_tree(pid_t leader, const char* proc_dir = "/proc");

/// Send `sig` to the whole tree of `leader`. For SIGKILL, rescans a few times to catch
/// processes forked while signalling. Without `include_leader` the pid `leader` itself is
/// not signalled (it was reaped; its session and group members still are). Returns false
/// if nothing was found to signal.
bool signal_process_tree(pid_t leader, int sig, bool include_leader = true);

}  // namespace nexus::agent
