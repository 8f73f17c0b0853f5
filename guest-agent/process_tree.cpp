// SPDX-License-Identifier: Apache-2.0
// Process tree discovery through /proc and tree-wide signalling.
#include "guest-agent/process_tree.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <charconv>
#include <map>
#include <string>

namespace nexus::agent {

bool parse_proc_stat(std::string_view text, ProcStat& out) {
  // "pid (comm) state ppid pgrp session ..."
  size_t open = text.find('(');
  size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open)
    return false;
  auto num = [](std::string_view s, pid_t& v) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc() && p == s.data() + s.size();
  };
  std::string_view head = text.substr(0, open);
  while (!head.empty() && head.back() == ' ') head.remove_suffix(1);
  if (!num(head, out.pid)) return false;
  std::string_view rest = text.substr(close + 1);
  std::string_view fields[5];
  size_t n = 0;
  size_t i = 0;
  while (n < 5 && i < rest.size()) {
    while (i < rest.size() && rest[i] == ' ') ++i;
    size_t j = rest.find(' ', i);
    if (j == std::string_view::npos) j = rest.size();
    if (j > i) fields[n++] = rest.substr(i, j - i);
    i = j;
  }
  if (n < 4) return false;
  // fields: state ppid pgrp session
  return num(fields[1], out.ppid) && num(fields[2], out.pgrp) && num(fields[3], out.session);
}

static std::vector<ProcStat> scan_proc(const char* proc_dir) {
  std::vector<ProcStat> out;
  DIR* d = ::opendir(proc_dir);
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::string path = std::string(proc_dir) + "/" + e->d_name + "/stat";
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    char buf[1024];
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) continue;
    ProcStat st;
    if (parse_proc_stat(std::string_view(buf, static_cast<size_t>(n)), st)) out.push_back(st);
  }
  ::closedir(d);
  return out;
}

std::set<pid_t> find_process_tree(pid_t leader, const char* proc_dir) {
  std::set<pid_t> tree;
  if (leader <= 1) return tree;
  auto procs = scan_proc(proc_dir);
  pid_t self = ::getpid();
  std::multimap<pid_t, pid_t> children;
  for (const auto& p : procs) {
    if (p.pid == self) continue;
    children.emplace(p.ppid, p.pid);
    if (p.pid == leader || p.session == leader || p.pgrp == leader) tree.insert(p.pid);
  }
  std::vector<pid_t> work(tree.begin(), tree.end());
  while (!work.empty()) {
    pid_t p = work.back();
    work.pop_back();
    auto [b, e] = children.equal_range(p);
    for (auto it = b; it != e; ++it)
      if (it->second != self && tree.insert(it->second).second) work.push_back(it->second);
  }
  return tree;
}

bool signal_process_tree(pid_t leader, int sig, bool include_leader) {
  if (leader <= 1) return false;
  bool any = false;
  std::set<pid_t> signalled;
  int rounds = sig == SIGKILL ? 3 : 1;
  for (int round = 0; round < rounds; ++round) {
    // Collect first, then signal: killing a parent reparents its children and would
    // break the ppid links.
    auto tree = find_process_tree(leader);
    bool new_found = false;
    for (pid_t p : tree) {
      if (!include_leader && p == leader) continue;
      if (sig == SIGKILL && signalled.count(p)) continue;
      if (::kill(p, sig) == 0) any = true;
      signalled.insert(p);
      new_found = true;
    }
    if (::kill(-leader, sig) == 0) any = true;
    if (!new_found) break;
  }
  return any;
}

}  // namespace nexus::agent
