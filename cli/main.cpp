// SPDX-License-Identifier: Apache-2.0
// nexus: the command-line client of nexusd. Process set-up only; see cli/commands.hpp.
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.hpp"

namespace {

nexus::Result<std::string> read_fd(int fd) {
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) return text;
    if (n < 0) {
      if (errno == EINTR) continue;
      return nexus::fail_errno("read");
    }
    text.append(buf, static_cast<size_t>(n));
  }
}

nexus::Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return nexus::fail_errno("cannot read '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return nexus::fail_errno("cannot read '" + path + "'");
  return text.str();
}

}  // namespace

int main(int argc, char** argv) {
  // A closed pipe is reported by write(2) as EPIPE; do not let it kill us (or libuv).
  std::signal(SIGPIPE, SIG_IGN);

  std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  nexus::cli::CommandEnv env;
  if (const char* socket = std::getenv("NEXUS_SOCKET")) env.socket_env = socket;
  env.read_stdin = [] { return read_fd(STDIN_FILENO); };
  env.read_file = read_file;

  try {
    return nexus::cli::run_cli(args, nexus::cli::system_console(), env);
  } catch (const std::exception& e) {
    std::string msg = std::string("nexus: ") + e.what() + "\n";
    (void)!::write(STDERR_FILENO, msg.data(), msg.size());
    return 1;
  }
}
