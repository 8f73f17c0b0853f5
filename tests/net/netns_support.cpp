// SPDX-License-Identifier: Apache-2.0
#include "tests/net/netns_support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace nexus::net::testing {

std::string run(const std::string& cmd, int* status) {
  std::string out;
  FILE* f = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!f) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  int st = ::pclose(f);
  if (status) *status = st;
  return out;
}

bool sh(const std::string& cmd) {
  int st = 0;
  std::string out = run(cmd, &st);
  if (st != 0) std::fprintf(stderr, "command failed: %s\n%s", cmd.c_str(), out.c_str());
  return st == 0;
}

int skip(const std::string& why) {
  std::printf("SKIP: %s\n", why.c_str());
  return 77;
}

pid_t start_reaper(const std::string& cleanup) {
  int pipefd[2];
  if (::pipe(pipefd) != 0) return -1;
  pid_t reaper = ::fork();
  if (reaper == 0) {
    ::close(pipefd[1]);
    ::setsid();  // out of the test's process group: a signal to the group leaves it to clean up
    char c;
    while (::read(pipefd[0], &c, 1) > 0) {}
    ::execl("/bin/sh", "sh", "-c", cleanup.c_str(), static_cast<char*>(nullptr));
    ::_exit(0);
  }
  ::close(pipefd[0]);
  if (reaper < 0) {
    ::close(pipefd[1]);
    return -1;
  }
  // The write end stays open until this process ends; not in the programs it execs, which
  // could outlive it and keep the reaper waiting.
  ::fcntl(pipefd[1], F_SETFD, FD_CLOEXEC);
  return reaper;
}

std::string netns_del_command(const std::vector<std::string>& names) {
  std::string cmd;
  for (const auto& n : names) cmd += (cmd.empty() ? "" : "; ") + ("ip netns del " + n + " 2>/dev/null");
  return cmd;
}

bool add_netns(const std::vector<std::string>& names) {
  for (const auto& n : names)
    if (!sh("ip netns add " + n)) return false;
  return true;
}

void del_netns(const std::vector<std::string>& names) {
  for (const auto& n : names)
    if (!n.empty()) run("ip netns del " + n);
}

int open_netns(const std::string& name) { return ::open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC); }

UniqueFd socket_in(int ns_fd, int domain, int type, int proto) {
  // setns() moves the calling thread only; it goes back to where it was once the socket is made.
  UniqueFd here(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!here || ::setns(ns_fd, CLONE_NEWNET) != 0) return UniqueFd();
  UniqueFd fd(::socket(domain, type | SOCK_CLOEXEC, proto));
  if (::setns(here.get(), CLONE_NEWNET) != 0) {
    // Left in the other namespace, every later check of the test would mean something else.
    std::perror("setns back to the caller's network namespace");
    std::abort();
  }
  return fd;
}

UniqueFd socket_in(const std::string& ns_path, int domain, int type, int proto) {
  UniqueFd ns(::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) return UniqueFd();
  return socket_in(ns.get(), domain, type, proto);
}

Addr addr(const char* ip, uint16_t port) {
  Addr a;
  if (std::strchr(ip, ':')) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&a.ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    ::inet_pton(AF_INET6, ip, &s6->sin6_addr);
    a.len = sizeof(*s6);
  } else {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&a.ss);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    ::inet_pton(AF_INET, ip, &s4->sin_addr);
    a.len = sizeof(*s4);
  }
  return a;
}

}  // namespace nexus::net::testing
