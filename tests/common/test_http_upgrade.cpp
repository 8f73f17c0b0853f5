// SPDX-License-Identifier: Apache-2.0
// Protocol upgrades (a proxy relaying WebSockets): the server's Exchange::upgrade() turning a
// connection into a byte tunnel, and the client's ClientRequest::upgrade reading one.
#include <sys/socket.h>
#include <unistd.h>

#include <catch.hpp>

#include <future>
#include <thread>

#include "common/http.hpp"
#include "common/strings.hpp"
#include "tests/common/test_http_support.hpp"

using namespace nexus;
using namespace nexus::http;
using namespace nexus::http_test;

namespace {

constexpr const char* kUpgradeRequest =
    "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n";

Headers upgrade_headers() {
  Headers h;
  h.add("Upgrade", "echo");
  h.add("Connection", "Upgrade");
  return h;
}

/// A handler that upgrades and answers each chunk upper-cased; "bye" and a shutdown when the
/// client ends its side. `ends` counts on_end calls, `end_ok` the last one's outcome.
struct UpperTunnel {
  int ends = 0;
  bool end_ok = false;
  Handler handler() {
    return [this](std::shared_ptr<Exchange> ex) {
      bool ok = ex->upgrade(101, upgrade_headers(), [ex](std::string_view d) { ex->write(to_upper(std::string(d))); },
                            [this, ex](Result<void> r) {
                              ++ends;
                              end_ok = r.has_value();
                              ex->write("bye");
                              ex->finish();
                            });
      CHECK(ok);
    };
  }
  static std::string to_upper(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
  }
};

}  // namespace

TEST_CASE("an upgraded server connection is a byte tunnel both ways", "[http]") {
  Fixture f;
  UpperTunnel t;
  ServerOptions opts;
  opts.idle_timeout_ms = 100;  // neither applies to a tunnel
  opts.body_idle_timeout_ms = 100;
  f.start(t.handler(), opts);
  auto fut = std::async(std::launch::async, [target = f.unix_target()] {
    int fd = raw_connect(target);
    // Bytes right behind the head reach the tunnel, not the HTTP parser.
    raw_send(fd, std::string(kUpgradeRequest) + "early");
    std::string got = raw_read_until(fd, "EARLY");
    std::this_thread::sleep_for(std::chrono::milliseconds(400));  // past both timeouts
    raw_send(fd, "more");
    got += raw_read_until(fd, "MORE");
    ::shutdown(fd, SHUT_WR);
    got += raw_read_all(fd);
    ::close(fd);
    return got;
  });
  std::string got = await(f.loop, fut);
  CHECK(got.starts_with("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n"));
  CHECK(got.find("Content-Length") == std::string::npos);
  CHECK(got.find("Transfer-Encoding") == std::string::npos);
  CHECK(got.ends_with("EARLYMOREbye"));
  REQUIRE(run_until(f.loop, [&] { return t.ends == 1; }));
  CHECK(t.end_ok);
}

TEST_CASE("upgrade is refused for a request with a body or after a response started", "[http]") {
  Fixture f;
  f.start([](std::shared_ptr<Exchange> ex) {
    if (ex->request().path == "/body") {
      CHECK_FALSE(ex->upgrade(101, upgrade_headers(), nullptr, nullptr));
      ex->respond(400, {}, "no upgrade with a body");
      return;
    }
    ex->start(200, {});
    CHECK_FALSE(ex->upgrade(101, upgrade_headers(), nullptr, nullptr));
    ex->write("plain");
    ex->finish();
  });
  std::string a = roundtrip(f.loop, f.unix_target(),
                            "POST /body HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n"
                            "Content-Length: 3\r\n\r\nabc");
  CHECK(a.starts_with("HTTP/1.1 400 "));
  CHECK(body_of(a) == "no upgrade with a body");
  std::string b = roundtrip(f.loop, f.unix_target(), kUpgradeRequest);
  CHECK(b.starts_with("HTTP/1.1 200 "));
  CHECK(b.find("plain") != std::string::npos);
}

TEST_CASE("a client upgrade reads the 101 and then raw bytes both ways", "[http]") {
  Fixture f;
  std::string server_got;
  int server_ends = 0;
  f.start([&](std::shared_ptr<Exchange> ex) {
    CHECK(ex->request().headers.get("Upgrade") == "echo");
    ex->upgrade(101, upgrade_headers(),
                [&, ex](std::string_view d) {
                  server_got += d;
                  ex->write("pong");
                },
                [&, ex](Result<void> r) {
                  CHECK(r);
                  ++server_ends;
                  ex->finish();
                });
    ex->write("hi");  // may leave in the same segment as the 101
  });
  ClientRequest req;
  req.target = "/ws";
  req.upgrade = true;
  req.headers.add("Connection", "Upgrade");
  req.headers.add("Upgrade", "echo");
  std::optional<int> status;
  std::string client_got;
  std::optional<Result<void>> end;
  std::shared_ptr<ClientCall> call;
  ResponseCallbacks cbs{[&](const ResponseHead& h) { status = h.status; },
                        [&](std::string_view d) {
                          client_got += d;
                          if (client_got == "hi") call->write("ping");
                          if (client_got == "hipong") call->finish();
                        },
                        [&](Result<void> r) { end = std::move(r); }};
  call = request(f.loop, f.endpoint(), std::move(req), std::move(cbs));
  REQUIRE(run_until(f.loop, [&] { return end.has_value(); }));
  CHECK(*end);
  CHECK(status == 101);
  CHECK(client_got == "hipong");
  CHECK(server_got == "ping");
  CHECK(server_ends == 1);
}

TEST_CASE("a client upgrade answered without 101 is a plain response", "[http]") {
  Fixture f;
  f.start([](std::shared_ptr<Exchange> ex) { ex->respond(426, {}, "upgrade elsewhere"); });
  ClientRequest req;
  req.upgrade = true;
  req.headers.add("Connection", "Upgrade");
  req.headers.add("Upgrade", "echo");
  auto r = f.fetch_sync(f.endpoint(), std::move(req));
  REQUIRE(r);
  CHECK(r->status == 426);
  CHECK(r->body == "upgrade elsewhere");
}
