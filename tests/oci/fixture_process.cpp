// SPDX-License-Identifier: Apache-2.0
#include "fixture_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#include "rootfs/oci/http_transport.hpp"

namespace nexus::oci::test {

FixtureProcess::FixtureProcess(const std::string& python, const std::string& script, const std::string& workdir) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork");
  if (pid_ == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::execl(python.c_str(), python.c_str(), script.c_str(), workdir.c_str(), nullptr);
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  stdin_fd_ = in[1];
  std::string line;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (line.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{out[0], POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[4096];
    ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    line.append(buf, static_cast<size_t>(n));
  }
  ::close(out[0]);
  auto j = parse_json(line);
  if (!j || !j->is_object()) throw std::runtime_error("registry fixture gave no description (see its stderr): " + line);
  if (j->contains("error")) throw std::runtime_error("registry fixture failed: " + (*j)["error"].get<std::string>());
  info_ = std::move(*j);
}

FixtureProcess::~FixtureProcess() {
  if (stdin_fd_ >= 0) ::close(stdin_fd_);
  for (int i = 0; i < 100; ++i) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

Json http_get_json(const std::string& host, const std::string& path) {
  HttpSession s;
  std::string body;
  BodySink sink{{}, [&](std::string_view c) -> Result<void> {
                  body.append(c);
                  return {};
                }};
  auto r = s.perform(HttpRequest{"http://" + host + path, {}, 0, false}, sink, {});
  if (!r || r->status != 200) throw std::runtime_error("GET " + path + " failed");
  return parse_json(body).value();
}

}  // namespace nexus::oci::test
