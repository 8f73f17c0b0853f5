// SPDX-License-Identifier: Apache-2.0
// Tests for fork/exec, exec-error reporting and process-tree discovery.
#include <catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "guest-agent/process_tree.hpp"
#include "guest-agent/spawn.hpp"

using namespace nexus;
using namespace nexus::agent;

namespace {

std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EAGAIN) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    return out;
  }
}

SpawnOptions sh(const std::string& script) {
  SpawnOptions o;
  o.cmd = "/bin/sh";
  o.args = {"-c", script};
  o.env = {"PATH=/usr/bin:/bin", "FOO=bar"};
  o.cwd = "/";
  o.change_identity = false;
  return o;
}

}  // namespace

TEST_CASE("spawned processes get env, cwd, pipes and their own session", "[spawn]") {
  auto o = sh("echo $FOO; pwd; echo err >&2; test $(cut -d' ' -f6 /proc/$$/stat) = $$ && echo session; exit 4");
  o.pipe_stdin = false;
  auto p = spawn_process(o);
  REQUIRE(p);
  CHECK_FALSE(p->stdin_fd.valid());
  CHECK(read_all(p->stdout_fd.get()) == "bar\n/\nsession\n");
  CHECK(read_all(p->stderr_fd.get()) == "err\n");
  int status = 0;
  REQUIRE(::waitpid(p->pid, &status, 0) == p->pid);
  CHECK(WEXITSTATUS(status) == 4);
}

TEST_CASE("stdin pipes reach the child", "[spawn]") {
  SpawnOptions o;
  o.cmd = "cat";
  o.env = {"PATH=/usr/bin:/bin"};
  o.cwd = "/";
  o.change_identity = false;
  auto p = spawn_process(o);
  REQUIRE(p);
  REQUIRE(::write(p->stdin_fd.get(), "hello", 5) == 5);
  p->stdin_fd.reset();
  CHECK(read_all(p->stdout_fd.get()) == "hello");
  int status = 0;
  REQUIRE(::waitpid(p->pid, &status, 0) == p->pid);
  CHECK(WIFEXITED(status));
}

TEST_CASE("exec and chdir failures are reported", "[spawn]") {
  SpawnOptions o;
  o.cmd = "/nonexistent/binary";
  o.cwd = "/";
  o.change_identity = false;
  auto r = spawn_process(o);
  REQUIRE_FALSE(r);
  CHECK(r.error().is(Errc::not_found));
  auto c = sh("true");
  c.cwd = "/nonexistent-dir";
  auto r2 = spawn_process(c);
  REQUIRE_FALSE(r2);
  CHECK(r2.error().errno_value() == ENOENT);
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  CHECK(find_executable("sh", "/nonexistent:/bin") == "/bin/sh");
}

TEST_CASE("/proc/<pid>/stat parsing tolerates odd command names", "[tree]") {
  ProcStat st;
  REQUIRE(parse_proc_stat("123 (a b) c)) S 45 67 89 0 -1", st));
  CHECK(st.pid == 123);
  CHECK(st.ppid == 45);
  CHECK(st.pgrp == 67);
  CHECK(st.session == 89);
  CHECK_FALSE(parse_proc_stat("garbage", st));
  CHECK_FALSE(parse_proc_stat("1 (x) S", st));
}

TEST_CASE("process trees include setsid descendants and die together", "[tree]") {
  // The middle child starts its own session; it must still be found through ppid links.
  auto o = sh("setsid sleep 100 & sleep 100 & echo started; wait");
  o.pipe_stdin = false;
  auto p = spawn_process(o);
  REQUIRE(p);
  char buf[16];
  while (::read(p->stdout_fd.get(), buf, sizeof buf) < 0 && errno == EAGAIN)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::set<pid_t> tree;
  for (int i = 0; i < 200 && tree.size() < 3; ++i) {
    tree = find_process_tree(p->pid);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(tree.size() >= 3);
  CHECK(tree.count(p->pid) == 1);
  CHECK(signal_process_tree(p->pid, SIGKILL));
  int status = 0;
  REQUIRE(::waitpid(p->pid, &status, 0) == p->pid);
  CHECK(WIFSIGNALED(status));
  // The other members are gone (or zombies of a reaper) shortly after.
  bool all_dead = false;
  for (int i = 0; i < 200 && !all_dead; ++i) {
    all_dead = true;
    for (pid_t q : tree) {
      if (q == p->pid) continue;
      std::string stat;
      FILE* f = std::fopen(("/proc/" + std::to_string(q) + "/stat").c_str(), "r");
      if (!f) continue;
      char line[512] = {};
      if (std::fgets(line, sizeof line, f)) stat = line;
      std::fclose(f);
      auto close = stat.rfind(')');
      if (close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z')
        all_dead = false;
    }
    if (!all_dead) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(all_dead);
}
