// SPDX-License-Identifier: Apache-2.0
// What the root network-namespace tests in tests/net share, one copy for all of them: shell
// commands (ip, nft, tc, bpftool, dnsmasq), the skip exit for main(), the test's named network
// namespaces and the reaper that deletes them however the test ends, sockets made inside a
// namespace, and socket addresses from text.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/unique_fd.hpp"

namespace nexus::net::testing {

/// A shell command's output (stdout and stderr); its wait status in `status`.
std::string run(const std::string& cmd, int* status = nullptr);
/// Runs a command, printing it and its output when it fails.
bool sh(const std::string& cmd);

/// For main(): prints "SKIP: <why>" and returns 77, the exit status meson counts as skipped.
int skip(const std::string& why);

/// Starts a process that runs the shell command `cleanup` when this process ends in any way (a
/// crash or SIGKILL too): it waits on a pipe whose write end only this process holds. Its pid,
/// or -1.
pid_t start_reaper(const std::string& cleanup);
/// The shell command that deletes the named network namespaces (for start_reaper).
std::string netns_del_command(const std::vector<std::string>& names);
/// `ip netns add` for each name; false (the failure printed) at the first that fails.
bool add_netns(const std::vector<std::string>& names);
/// `ip netns del` for each name that is not empty.
void del_netns(const std::vector<std::string>& names);
/// The named namespace (/run/netns/<name>) opened O_CLOEXEC, or -1.
int open_netns(const std::string& name);

/// A socket made inside the network namespace `ns_fd` (a socket keeps the namespace it was made
/// in); the calling thread is back in its own namespace on return. Invalid when it cannot be made.
UniqueFd socket_in(int ns_fd, int domain, int type, int proto = 0);
/// The same in the namespace at `ns_path` (/run/netns/<name>, /proc/<pid>/ns/net).
UniqueFd socket_in(const std::string& ns_path, int domain, int type, int proto = 0);

struct Addr {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family() const { return ss.ss_family; }
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&ss); }
};
/// "198.51.100.1" or "2001:db8::1" and a port.
Addr addr(const char* ip, uint16_t port);

}  // namespace nexus::net::testing
