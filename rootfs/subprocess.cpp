// SPDX-License-Identifier: Apache-2.0
// posix_spawn of a helper with a pipe for its output.
#include "rootfs/subprocess.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <deque>

#include <fmt/format.h>

#include "common/unique_fd.hpp"

extern char** environ;

namespace nexus::rootfs {

namespace {

constexpr size_t kTailLines = 15;
constexpr size_t kMaxLine = 4096;
constexpr const char* kDefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Splits a byte stream into lines ('\n' or '\r'), keeps the last few for error messages.
class LineSplitter {
 public:
  explicit LineSplitter(const ProgressFn& fn) : fn_(fn) {}

  void feed(std::string_view data) {
    for (char c : data) {
      if (c == '\n' || c == '\r') {
        flush();
      } else if (partial_.size() < kMaxLine) {
        partial_ += c;
      }
    }
  }

  void flush() {
    if (partial_.empty()) return;
    report(fn_, partial_);
    tail_.push_back(std::move(partial_));
    if (tail_.size() > kTailLines) tail_.pop_front();
    partial_.clear();
  }

  std::string tail() const {
    std::string out;
    for (const auto& l : tail_) out += fmt::format("\n  {}", l);
    return out;
  }

 private:
  const ProgressFn& fn_;
  std::string partial_;
  std::deque<std::string> tail_;
};

std::string_view env_name(std::string_view kv) { return kv.substr(0, kv.find('=')); }

// The parent's environment plus `extra`, with a PATH that finds chroot, useradd and friends.
std::vector<std::string> child_environment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  bool has_path = false;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    bool overridden = false;
    for (const auto& x : extra) overridden = overridden || env_name(x) == env_name(kv);
    if (overridden) continue;
    if (kv.starts_with("PATH=")) {
      has_path = true;
      if (kv.find("/usr/sbin") == std::string_view::npos) {
        env.emplace_back(fmt::format("{}:/usr/sbin:/sbin", kv));
        continue;
      }
    }
    env.emplace_back(kv);
  }
  if (!has_path) env.emplace_back(kDefaultPath);
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// posix_spawn_file_actions_t with guaranteed destruction.
struct FileActions {
  posix_spawn_file_actions_t fa;
  FileActions() { posix_spawn_file_actions_init(&fa); }
  ~FileActions() { posix_spawn_file_actions_destroy(&fa); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
};

}  // namespace

Result<void> run_command(const std::vector<std::string>& argv, const ProgressFn& on_line,
                         const std::vector<std::string>& extra_env) {
  if (argv.empty()) return fail(Errc::invalid_argument, "run_command: empty argv");
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return fail_errno("pipe2");
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);

  FileActions actions;
  posix_spawn_file_actions_addopen(&actions.fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions.fa, write_end.get(), 1);
  posix_spawn_file_actions_adddup2(&actions.fa, write_end.get(), 2);
  posix_spawn_file_actions_addclosefrom_np(&actions.fa, 3);

  std::vector<std::string> args = argv;
  std::vector<std::string> env = child_environment(extra_env);
  auto c_args = c_strings(args);
  auto c_env = c_strings(env);
  pid_t pid = -1;
  // posix_spawnp searches the PATH of the calling process, so pass an absolute path
  // when the daemon's own PATH may lack it.
  int err = posix_spawnp(&pid, args[0].c_str(), &actions.fa, nullptr, c_args.data(),
                         c_env.data());
  if (err != 0) return fail_errno(err, fmt::format("starting {}", argv[0]));
  write_end.reset();

  LineSplitter lines(on_line);
  char buf[8192];
  for (;;) {
    ssize_t n = read(read_end.get(), buf, sizeof buf);
    if (n > 0) {
      lines.feed(std::string_view(buf, static_cast<size_t>(n)));
    } else if (n == 0 || errno != EINTR) {
      break;  // EOF, or a read error: either way, wait for the child below
    }
  }
  lines.flush();

  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return fail_errno(fmt::format("waiting for {}", argv[0]));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  std::string how = WIFEXITED(status)
                        ? fmt::format("exited with status {}", WEXITSTATUS(status))
                        : fmt::format("was killed by signal {}", WTERMSIG(status));
  return fail(Errc::internal, fmt::format("{} {}; last output:{}", argv[0], how, lines.tail()));
}

}  // namespace nexus::rootfs
