// SPDX-License-Identifier: Apache-2.0
// Fuzz the HTTP/1.1 server: each input is written raw to a new Unix-socket connection.
//
// One nexus::http::Server on a Unix socket in a temporary directory serves every input.
// Per input: connect, write the bytes, half-close, and run the loop until the server has
// closed the connection (or 200 ms pass). The handler buffers the body (64 KiB limit) and
// answers 200. NEXUS_FUZZ_VERBOSE=1 prints what the server sent.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "common/http.hpp"
#include "common/uv.hpp"
#include "tests/fuzz/fuzz.hpp"

namespace http = nexus::http;
namespace uv = nexus::uv;

namespace {

constexpr uint64_t kInputTimeoutMs = 200;

struct Fixture {
  uv::Loop loop;
  std::unique_ptr<http::Server> server;
  std::string dir;
  std::string path;
};

std::string g_cleanup_dir;  // removed at exit

void cleanup() {
  if (g_cleanup_dir.empty()) return;
  ::unlink((g_cleanup_dir + "/http.sock").c_str());
  ::rmdir(g_cleanup_dir.c_str());
}

/// The server, created on first use and kept for the whole process (never destroyed, so
/// no teardown order problems at exit).
Fixture& fixture() {
  static Fixture* f = [] {
    ::signal(SIGPIPE, SIG_IGN);
    auto* fx = new Fixture;
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/nexus-fuzz-http-XXXXXX";
    FUZZ_CHECK(::mkdtemp(templ.data()) != nullptr);
    fx->dir = templ;
    fx->path = fx->dir + "/http.sock";
    g_cleanup_dir = fx->dir;
    std::atexit(cleanup);
    http::ServerOptions opts;
    opts.max_body_bytes = 64 * 1024;
    opts.header_timeout_ms = 1000;
    opts.idle_timeout_ms = 1000;
    fx->server = std::make_unique<http::Server>(fx->loop, opts, [](std::shared_ptr<http::Exchange> ex) {
      ex->read_body(64 * 1024, [ex](nexus::Result<std::string> body) {
        if (!body || ex->responded()) return;  // the server answered (413/400) or the peer left
        http::Headers h;
        h.add("Content-Type", "text/plain");
        ex->respond(200, std::move(h), "ok " + std::to_string(body->size()));
      });
    });
    auto r = fx->server->listen_unix(fx->path, 0600);
    if (!r) {
      std::fprintf(stderr, "listen_unix: %s\n", r.error().message().c_str());
      std::abort();
    }
    return fx;
  }();
  return *f;
}

/// Run the loop until `done()` or `timeout_ms` pass; checks `done` every millisecond.
bool run_until(uv::Loop& loop, uint64_t timeout_ms, const std::function<bool()>& done) {
  if (done()) return true;
  bool finished = false;
  uint64_t deadline = loop.now_ms() + timeout_ms;
  uv::Timer tick(loop);
  tick.start(1, 1, [&] {
    if (done()) finished = true;
    if (finished || loop.now_ms() >= deadline) loop.stop();
  });
  loop.run();
  return finished || done();
}

int connect_client(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  FUZZ_CHECK(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    std::fprintf(stderr, "connect: %s\n", std::strerror(errno));
    std::abort();  // the server is gone: that is a crash of sorts
  }
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Fixture& fx = fixture();
  std::string_view pending = nexus::fuzz::as_view(data, size);
  int fd = connect_client(fx.path);
  std::string received;
  bool eof = false;

  {
    uv::Poll poll(fx.loop, fd);
    auto on_event = [&](int status, int events) {
      if (status < 0) {
        eof = true;
        return;
      }
      if (events & UV_WRITABLE) {
        while (!pending.empty()) {
          ssize_t n = ::send(fd, pending.data(), pending.size(), MSG_NOSIGNAL);
          if (n <= 0) {
            if (n < 0 && errno == EAGAIN) break;
            pending = {};  // the server closed its side: drop the rest
            break;
          }
          pending.remove_prefix(static_cast<size_t>(n));
        }
      }
      if (events & UV_READABLE) {
        char buf[16 * 1024];
        for (;;) {
          ssize_t n = ::recv(fd, buf, sizeof buf, 0);
          if (n > 0) {
            received.append(buf, static_cast<size_t>(n));
            continue;
          }
          if (n == 0 || errno != EAGAIN) eof = true;
          break;
        }
      }
    };
    bool write_side_open = true;
    std::function<void()> arm;
    arm = [&] {
      int events = UV_READABLE | UV_DISCONNECT | (pending.empty() ? 0 : UV_WRITABLE);
      poll.start(events, [&](int status, int ev) {
        on_event(status, ev);
        if (pending.empty() && write_side_open) {
          ::shutdown(fd, SHUT_WR);  // the whole input is sent: the server sees EOF next
          write_side_open = false;
          if (!eof) arm();
        }
        if (eof) poll.stop();
      });
    };
    if (pending.empty()) {
      ::shutdown(fd, SHUT_WR);
      write_side_open = false;
    }
    arm();
    run_until(fx.loop, kInputTimeoutMs, [&] { return eof; });
  }
  ::close(fd);
  // Let the server notice and release the connection before the next input.
  run_until(fx.loop, kInputTimeoutMs, [&] { return fx.server->connection_count() == 0; });

  static const bool verbose = std::getenv("NEXUS_FUZZ_VERBOSE") != nullptr;
  if (verbose) std::fprintf(stderr, "response (%zu bytes):\n%s\n", received.size(), received.c_str());
  // Whatever the server sent is HTTP/1.1 responses.
  if (!received.empty()) FUZZ_CHECK(received.rfind("HTTP/1.1 ", 0) == 0);
  return 0;
}
