// SPDX-License-Identifier: Apache-2.0
// What the host offers sandboxes, as `nexus doctor` reports it: the kernel, cgroups, user
// namespaces, eBPF (a TC classifier program loads) and BTF, nftables, and the free disk
// under nexusd's root. Read from /proc, /sys, statvfs and one bpf(2) call; nothing is
// changed. Shared by nexusd (GET /v1/host) and the CLI's local report.
#pragma once

#include <string>

#include "common/json.hpp"

namespace nexus::host {

/// {"kernel": {"release", "version"},
///  "cgroup": {"version": 1|2, "controllers": [...], "missing": [...]},
///  "userns": {"available", "max"?, "reason"?},
///  "ebpf": {"available", "reason"?}, "btf": {"available", "path"},
///  "nftables": {"available", "nft"?, "kernel": "loaded"|"module"|"builtin"|"missing", "reason"?},
///  "disk": {"path", "free_bytes", "total_bytes"} | {"path", "error"}}
/// `root_dir` is nexusd's state root (or the nearest existing parent of it is measured).
Json system_facts(const std::string& root_dir);

/// The cgroup controllers a jail sandbox needs.
inline constexpr const char* kNeededControllers[] = {"memory", "cpu", "pids", "freezer"};

}  // namespace nexus::host
