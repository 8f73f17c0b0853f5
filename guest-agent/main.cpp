// SPDX-License-Identifier: Apache-2.0
// nexus-agent: the in-sandbox envd agent (PID 1). Argument parsing and wiring only.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "common/http.hpp"
#include "common/log.hpp"
#include "common/uv.hpp"
#include "guest-agent/agent_server.hpp"
#include "guest-agent/agent_state.hpp"
#include "guest-agent/guest_init.hpp"
#include "guest-agent/process_table.hpp"
#include "guest-agent/reaper.hpp"
#include "nexus_config.h"

namespace {

constexpr std::string_view kUsage =
    "Usage: nexus-agent [--listen PATH | --listen-fd N | --listen-vsock PORT]\n"
    "                   [--log-level debug|info|warning|error] [--single-user] [--etc DIR]\n"
    "                   [--guest-init]\n"
    "\n"
    "The Nexus in-sandbox agent: serves the envd protocol (Connect RPC process.Process and\n"
    "filesystem.Filesystem, /files, /health, /init, /envs) over HTTP/1.1 and reaps every\n"
    "child (run it as PID 1).\n"
    "\n"
    "  --listen PATH        listen on a Unix socket at PATH\n"
    "  --listen-fd N        accept on an inherited listening socket N\n"
    "  --listen-vsock PORT  listen on AF_VSOCK port PORT (microVM guests)\n"
    "                       (default: fd 3 when LISTEN_FDS=1, else vsock port 49983)\n"
    "  --log-level L        log level (default info)\n"
    "  --single-user        run all commands and file access as the agent's own user\n"
    "                       (for tests without root; HOME is the agent's $HOME)\n"
    "  --etc DIR            read passwd and group from DIR (default /etc)\n"
    "  --guest-init         run as a microVM's init first: mount /proc, /sys, /dev, the\n"
    "                       overlay of /dev/vda (erofs) and /dev/vdb (ext4), switch root\n"
    "                       (PID 1 only; implied for PID 1 on an initramfs without /proc)\n"
    "  --help               show this help\n"
    "  --version            show the version\n";

constexpr unsigned kDefaultVsockPort = 49983;

struct Args {
  std::string listen_path;
  int listen_fd = -1;
  std::optional<unsigned> vsock_port;
  std::string log_level = "info";
  bool single_user = false;
  std::string etc_dir = "/etc";
  bool guest_init = false;
};

bool parse_int(std::string_view s, int& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "nexus-agent: %s\n%s", msg.c_str(), std::string(kUsage).c_str());
  return 2;
}

// Make sure 0-2 are open so pipes and sockets never land on them.
void ensure_std_fds() {
  for (int fd = 0; fd < 3; ++fd) {
    if (::fcntl(fd, F_GETFD) >= 0) continue;
    int n = ::open("/dev/null", O_RDWR);
    if (n >= 0 && n != fd) {
      ::dup2(n, fd);
      ::close(n);
    }
  }
}

nexus::Result<nexus::UniqueFd> vsock_listener(unsigned port) {
  nexus::UniqueFd fd(::socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return nexus::fail_errno("creating a vsock socket");
  sockaddr_vm addr{};
  addr.svm_family = AF_VSOCK;
  addr.svm_cid = VMADDR_CID_ANY;
  addr.svm_port = port;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return nexus::fail_errno("binding vsock port");
  if (::listen(fd.get(), 128) != 0) return nexus::fail_errno("listening on vsock");
  return fd;
}

// `guest` is set in guest-init mode (a microVM's PID 1): a stop then resets the VM.
int run(const Args& args, const nexus::agent::guest::GuestSession* guest) {
  using namespace nexus;
  ensure_std_fds();
  ::signal(SIGPIPE, SIG_IGN);
  if (::getpid() != 1) {
    // Outside a PID namespace: still collect orphans of our process trees.
    (void)::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  }

  uv::Loop loop;
  agent::AgentOptions opts;
  opts.single_user = args.single_user;
  opts.etc_dir = args.etc_dir;
  agent::AgentState state(opts);
  agent::ProcessTable table;
  agent::Reaper reaper(loop, [&table](pid_t pid, int status) {
    if (!table.on_child_status(pid, status)) log::debug("agent", "reaped orphan {}", pid);
  });
  reaper.start();

  agent::AgentServer app(loop, state, table);
  http::ServerOptions so;
  so.max_body_bytes = agent::kMaxRpcMessageBytes + 5;
  so.idle_timeout_ms = 75 * 1000;
  http::Server server(loop, so, [&app](std::shared_ptr<http::Exchange> ex) { app.handle(std::move(ex)); });

  Result<void> listening;
  std::string what;
  if (!args.listen_path.empty()) {
    what = "'" + args.listen_path + "'";
    listening = server.listen_unix(args.listen_path, 0660);
  } else if (args.listen_fd >= 0) {
    what = "fd " + std::to_string(args.listen_fd);
    listening = server.listen_fd(UniqueFd(args.listen_fd));
  } else {
    unsigned port = args.vsock_port.value_or(kDefaultVsockPort);
    what = "vsock port " + std::to_string(port);
    auto fd = vsock_listener(port);
    listening = fd ? server.listen_fd(std::move(*fd)) : Result<void>(fail(std::move(fd).error()));
  }
  if (!listening) {
    log::error("agent", "cannot listen on {}: {}", what, listening.error().message());
    return 1;
  }
  log::info("agent", "nexus-agent {} listening on {} (pid {}{})", NEXUS_VERSION, what,
            ::getpid(), args.single_user ? ", single-user" : "");

  auto shutdown = [&](int sig) {
    if (guest != nullptr) {
      log::info("agent", "signal {}: stopping the guest", sig);
      table.kill_all();
      agent::guest::guest_shutdown(*guest);
    }
    log::info("agent", "signal {}: killing all processes and exiting", sig);
    table.kill_all();
    if (::getpid() == 1) ::kill(-1, SIGKILL);
    if (!args.listen_path.empty()) ::unlink(args.listen_path.c_str());
    std::_Exit(0);
  };
  uv::Signal sigterm(loop), sigint(loop);
  sigterm.start(SIGTERM, shutdown);
  sigint.start(SIGINT, shutdown);
  loop.run();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&](std::string_view name) -> std::optional<std::string> {
      if (i + 1 >= argc) return std::nullopt;
      (void)name;
      return std::string(argv[++i]);
    };
    if (a == "--help" || a == "-h") {
      std::fwrite(kUsage.data(), 1, kUsage.size(), stdout);
      return 0;
    } else if (a == "--version") {
      std::printf("nexus-agent %s\n", NEXUS_VERSION);
      return 0;
    } else if (a == "--listen") {
      auto v = value(a);
      if (!v || v->empty()) return usage_error("--listen needs a path");
      args.listen_path = *v;
    } else if (a == "--listen-fd") {
      auto v = value(a);
      int fd = -1;
      if (!v || !parse_int(*v, fd) || fd < 0) return usage_error("--listen-fd needs a number");
      args.listen_fd = fd;
    } else if (a == "--listen-vsock") {
      auto v = value(a);
      int port = -1;
      if (!v || !parse_int(*v, port) || port <= 0) return usage_error("--listen-vsock needs a port");
      args.vsock_port = static_cast<unsigned>(port);
    } else if (a == "--log-level") {
      auto v = value(a);
      nexus::log::Level level;
      if (!v || !nexus::log::parse_level(*v, level)) return usage_error("invalid --log-level");
      args.log_level = *v;
    } else if (a == "--single-user") {
      args.single_user = true;
    } else if (a == "--guest-init") {
      args.guest_init = true;
    } else if (a == "--etc") {
      auto v = value(a);
      if (!v || v->empty()) return usage_error("--etc needs a directory");
      args.etc_dir = *v;
    } else if (::getpid() == 1 && a.substr(0, 2) != "--") {
      // As a microVM's init, the kernel hands us the boot parameters it did not know.
      std::fprintf(stderr, "nexus-agent: ignoring kernel parameter '%s'\n", argv[i]);
    } else {
      return usage_error("unknown argument '" + std::string(a) + "'");
    }
  }
  int sources = !args.listen_path.empty() + (args.listen_fd >= 0) + args.vsock_port.has_value();
  if (sources > 1) return usage_error("give only one of --listen, --listen-fd, --listen-vsock");
  if (sources == 0) {
    const char* fds = std::getenv("LISTEN_FDS");
    const char* lpid = std::getenv("LISTEN_PID");
    if (fds && std::string_view(fds) == "1" &&
        (!lpid || std::to_string(::getpid()) == lpid))
      args.listen_fd = 3;
  }
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDNAMES");
  nexus::log::Level level;
  nexus::log::parse_level(args.log_level, level);
  nexus::log::set_level(level);
  nexus::log::set_sink(2, true);
  namespace guest = nexus::agent::guest;
  guest::InitMode mode = guest::detect_guest_init(args.guest_init);
  if (mode == guest::InitMode::refused)
    return usage_error("--guest-init is for PID 1 of a microVM only");
  std::optional<guest::GuestSession> session;
  if (mode == guest::InitMode::guest_init) {
    // PID 1 of a microVM must never return: every failure from here on resets the VM.
    auto s = guest::run_guest_init(guest::GuestInitOptions{});
    if (!s) guest::fatal(s.error().message());
    if (!s->notes.empty()) nexus::log::warning("agent", "guest init: {}", s->notes);
    session = std::move(*s);
  }
  int rc = 1;
  try {
    rc = run(args, session ? &*session : nullptr);
  } catch (const std::exception& e) {
    nexus::log::error("agent", "fatal: {}", e.what());
    rc = 1;
  }
  if (session) guest::fatal("the agent stopped serving (status " + std::to_string(rc) + ")");
  return rc;
}
