// SPDX-License-Identifier: Apache-2.0
// The hybrid vsock preamble (CONNECT <port> / OK <n>) against a real Unix socket peer: the
// reply parser, the HTTP client's handshake hook, and waiting for a booting agent.
#include <catch.hpp>

#include <atomic>
#include <optional>
#include <thread>

#include "common/http.hpp"
#include "daemon/microvm/agent_wait.hpp"
#include "daemon/microvm/hybrid_vsock.hpp"
#include "unix_peer.hpp"

using namespace nexus;
using namespace nexus::daemon_test;

namespace {

constexpr std::string_view kHello = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";

Result<http::Response> get(uv::Loop& loop, const http::Endpoint& ep, const std::string& target = "/health") {
  std::optional<Result<http::Response>> out;
  http::ClientRequest req;
  req.target = target;
  req.connect_timeout_ms = 3000;
  http::fetch(loop, ep, std::move(req), [&](Result<http::Response> r) { out = std::move(r); });
  REQUIRE(run_until(loop, [&] { return out.has_value(); }));
  return std::move(*out);
}

// A VMM whose guest agent answers: check the preamble, reply OK, then serve one request.
void agent_peer(int fd, std::string* seen_preamble, std::string* seen_request) {
  *seen_preamble = read_line(fd);
  write_all(fd, "OK 1073741824\n");
  *seen_request = read_until(fd, "\r\n\r\n");
  write_all(fd, kHello);
}

}  // namespace

TEST_CASE("hybrid vsock reply lines", "[vsock]") {
  CHECK(microvm::connect_request(49983) == "CONNECT 49983\n");
  CHECK(*microvm::parse_connect_reply("OK 1073741824") == 1073741824u);
  CHECK(*microvm::parse_connect_reply("OK 0") == 0u);
  CHECK(*microvm::parse_connect_reply("OK 4294967295") == 4294967295u);
  CHECK(*microvm::parse_connect_reply("OK 7\r") == 7u);
  for (std::string_view bad : {"", "OK", "OK ", "ok 5", "OK 4294967296", "OK 12345678901", "OK -1", "OK 5 6",
                               "OK  5", "NO 5", "OK 5x", "CONNECT 49983"}) {
    auto r = microvm::parse_connect_reply(bad);
    INFO("line: '" << bad << "'");
    REQUIRE_FALSE(r);
    CHECK(r.error().is(Errc::protocol));
  }
  auto r = microvm::parse_connect_reply(std::string(200, 'x') + "\x01");
  REQUIRE_FALSE(r);
  CHECK(r.error().message().find("...") != std::string::npos);  // shortened, printable
  CHECK(r.error().message().find('\x01') == std::string::npos);
}

TEST_CASE("HTTP over hybrid vsock: CONNECT, OK, then the request", "[vsock]") {
  std::string preamble, request;
  UnixPeer peer([&](int fd, int) { agent_peer(fd, &preamble, &request); });
  uv::Loop loop;
  auto r = get(loop, microvm::vsock_endpoint(peer.path(), 49983));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "hello");
  CHECK(preamble == "CONNECT 49983");
  CHECK(request.rfind("GET /health HTTP/1.1\r\n", 0) == 0);
}

TEST_CASE("hybrid vsock: OK line split over reads, and HTTP bytes right behind it", "[vsock]") {
  SECTION("split") {
    UnixPeer peer([&](int fd, int) {
      read_line(fd);
      write_all(fd, "OK 12");
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      write_all(fd, "34\n");
      read_until(fd, "\r\n\r\n");
      write_all(fd, kHello);
    });
    uv::Loop loop;
    auto r = get(loop, microvm::vsock_endpoint(peer.path(), 49983));
    REQUIRE(r);
    CHECK(r->body == "hello");
  }
  SECTION("response in the same packet as the OK line") {
    UnixPeer peer([&](int fd, int) {
      read_line(fd);
      write_all(fd, std::string("OK 5\n") + std::string(kHello));
      read_until(fd, "\r\n\r\n");
    });
    uv::Loop loop;
    auto r = get(loop, microvm::vsock_endpoint(peer.path(), 49983));
    REQUIRE(r);
    CHECK(r->body == "hello");
  }
}

TEST_CASE("hybrid vsock: garbage, early close and oversized replies fail the request", "[vsock]") {
  uv::Loop loop;
  SECTION("garbage") {
    UnixPeer peer([&](int fd, int) {
      read_line(fd);
      write_all(fd, "HELLO THERE\n");
    });
    auto r = get(loop, microvm::vsock_endpoint(peer.path(), 49983));
    REQUIRE_FALSE(r);
    CHECK(r.error().is(Errc::protocol));
    CHECK(r.error().message().find("unexpected hybrid vsock reply 'HELLO THERE'") != std::string::npos);
    CHECK(r.error().message().find("handshake") != std::string::npos);
  }
  SECTION("closed before the reply (nothing listens in the guest yet)") {
    UnixPeer peer([&](int fd, int) { read_line(fd); });
    auto r = get(loop, microvm::vsock_endpoint(peer.path(), 49983));
    REQUIRE_FALSE(r);
    CHECK(r.error().is(Errc::unavailable));
    CHECK(r.error().message().find("closed during the handshake") != std::string::npos);
  }
  SECTION("closed in the middle of the reply") {
    UnixPeer peer([&](int fd, int) {
      read_line(fd);
      write_all(fd, "OK 12");
    });
    auto r = get(loop, microvm::vsock_endpoint(peer.path(), 49983));
    REQUIRE_FALSE(r);
    CHECK(r.error().is(Errc::unavailable));
  }
  SECTION("a reply line over the limit") {
    UnixPeer peer([&](int fd, int) {
      read_line(fd);
      write_all(fd, "OK " + std::string(4096, '1'));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    });
    auto r = get(loop, microvm::vsock_endpoint(peer.path(), 49983));
    REQUIRE_FALSE(r);
    CHECK(r.error().is(Errc::protocol));
    CHECK(r.error().message().find("longer than 64 bytes") != std::string::npos);
  }
  SECTION("no socket at all") {
    auto r = get(loop, microvm::vsock_endpoint("/tmp/nexus-no-such-vsock.sock", 49983));
    REQUIRE_FALSE(r);
  }
}

TEST_CASE("hybrid vsock: a silent peer runs into the connect timeout", "[vsock]") {
  UnixPeer peer([&](int fd, int) {
    read_line(fd);
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
  });
  uv::Loop loop;
  std::optional<Result<http::Response>> out;
  http::ClientRequest req;
  req.target = "/health";
  req.connect_timeout_ms = 200;
  http::fetch(loop, microvm::vsock_endpoint(peer.path(), 49983), std::move(req),
              [&](Result<http::Response> r) { out = std::move(r); });
  REQUIRE(run_until(loop, [&] { return out.has_value(); }));
  REQUIRE_FALSE(*out);
  CHECK(out->error().is(Errc::timeout));
}

TEST_CASE("waiting for a booting agent retries until it answers", "[vsock][boot]") {
  // The first three connections find no listener in the guest: closed without an OK.
  UnixPeer peer([&](int fd, int index) {
    std::string preamble = read_line(fd);
    if (index < 3) return;
    write_all(fd, "OK 9\n");
    read_until(fd, "\r\n\r\n");
    write_all(fd, kHello);
  });
  uv::Loop loop;
  std::optional<Result<void>> done;
  microvm::AgentWaitOptions opts;
  opts.deadline_ms = 5000;
  opts.retry_ms = 5;
  microvm::AgentWait wait(loop, microvm::vsock_endpoint(peer.path(), 49983), opts, [] { return Result<void>{}; },
                          [&](Result<void> r) { done = std::move(r); });
  wait.start();
  REQUIRE(run_until(loop, [&] { return done.has_value(); }));
  CHECK(*done);
  CHECK(peer.connections() == 4);
}

TEST_CASE("waiting for an agent ends at the deadline or when the VMM is gone", "[vsock][boot]") {
  UnixPeer peer([&](int fd, int) { read_line(fd); });  // never an OK
  uv::Loop loop;
  std::optional<Result<void>> done;
  microvm::AgentWaitOptions opts;
  opts.retry_ms = 5;
  SECTION("deadline") {
    opts.deadline_ms = 150;
    microvm::AgentWait wait(loop, microvm::vsock_endpoint(peer.path(), 49983), opts, [] { return Result<void>{}; },
                            [&](Result<void> r) { done = std::move(r); });
    wait.start();
    REQUIRE(run_until(loop, [&] { return done.has_value(); }));
    REQUIRE_FALSE(*done);
    CHECK(done->error().is(Errc::timeout));
    CHECK(done->error().message().find("closed during the handshake") != std::string::npos);
  }
  SECTION("the check says the VMM died") {
    opts.deadline_ms = 5000;
    int tries = 0;
    microvm::AgentWait wait(
        loop, microvm::vsock_endpoint(peer.path(), 49983), opts,
        [&]() -> Result<void> {
          if (++tries < 2) return {};
          return fail(Errc::unavailable, "nexus-vmm exited with status 1");
        },
        [&](Result<void> r) { done = std::move(r); });
    wait.start();
    REQUIRE(run_until(loop, [&] { return done.has_value(); }));
    REQUIRE_FALSE(*done);
    CHECK(done->error().message() == "nexus-vmm exited with status 1");
  }
  SECTION("destroying the wait cancels it") {
    opts.deadline_ms = 100;
    {
      microvm::AgentWait wait(loop, microvm::vsock_endpoint(peer.path(), 49983), opts, [] { return Result<void>{}; },
                              [&](Result<void> r) { done = std::move(r); });
      wait.start();
      run_until(loop, [&] { return peer.connections() >= 1; });
    }
    run_until(loop, [] { return false; }, std::chrono::milliseconds(300));
    CHECK_FALSE(done.has_value());
  }
}
