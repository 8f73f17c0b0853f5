// SPDX-License-Identifier: Apache-2.0
// Tests for the HTTP/1.1 server and client: requests, keep-alive, limits and errors.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch.hpp>

#include <cstring>

#include "common/http.hpp"
#include "tests/common/test_http_support.hpp"

using namespace nexus;
using namespace nexus::http;
using namespace nexus::http_test;

namespace {


Handler echo_handler() {
  return [](std::shared_ptr<Exchange> ex) {
    const RequestHead& r = ex->request();
    Headers h;
    h.add("Content-Type", "text/plain");
    h.add("X-Method", r.method);
    ex->respond(200, std::move(h), r.path + "|" + r.query);
  };
}

}  // namespace

TEST_CASE("simple GET over a Unix socket and TCP", "[http]") {
  Fixture f;
  std::optional<Exchange::PeerCred> unix_peer, tcp_peer;
  f.start([&](std::shared_ptr<Exchange> ex) {
    (ex->request().path == "/tcp" ? tcp_peer : unix_peer) = ex->peer();
    echo_handler()(ex);
  });
  REQUIRE(f.server->listen_tcp("127.0.0.1", 0));
  REQUIRE(f.server->bound_port() != 0);

  ClientRequest req;
  req.target = "/v1/sandboxes?limit=5&x=%20";
  auto r = f.fetch_sync(f.endpoint(), req);
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "/v1/sandboxes|limit=5&x=%20");
  CHECK(r->headers.get("content-type") == "text/plain");
  CHECK(r->headers.get("x-method") == "GET");
  CHECK(r->headers.get("Content-Length") == std::to_string(r->body.size()));
  REQUIRE(unix_peer);
  CHECK(unix_peer->uid == getuid());
  CHECK(unix_peer->pid == static_cast<uint32_t>(getpid()));

  ClientRequest treq;
  treq.target = "/tcp";
  auto t = f.fetch_sync(Endpoint::tcp("localhost", f.server->bound_port()), treq);
  REQUIRE(t);
  CHECK(t->body == "/tcp|");
  CHECK_FALSE(tcp_peer.has_value());
  CHECK(run_until(f.loop, [&] { return f.server->connection_count() == 0; }));
}

TEST_CASE("keep-alive serves two requests on one connection", "[http]") {
  Fixture f;
  int requests = 0;
  f.start([&](std::shared_ptr<Exchange> ex) {
    ++requests;
    ex->respond(200, {}, ex->request().path);
  });
  auto fut = std::async(std::launch::async, [t = f.unix_target()] {
    int fd = raw_connect(t);
    std::string carry;
    raw_send(fd, "GET /one HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string first = raw_read_response(fd, carry);
    raw_send(fd, "GET /two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    std::string second = carry + raw_read_all(fd);
    close(fd);
    return std::make_pair(first, second);
  });
  auto [first, second] = await(f.loop, fut);
  CHECK(first ==
        "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nKeep-Alive: timeout=75\r\n\r\n/one");
  CHECK(second == "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\n/two");
  CHECK(requests == 2);
}

TEST_CASE("pipelined requests are answered in order, one at a time", "[http]") {
  Fixture f;
  std::vector<std::shared_ptr<Exchange>> held;
  uv::Timer timer(f.loop);
  int active = 0, max_active = 0;
  f.start([&](std::shared_ptr<Exchange> ex) {
    ++active;
    max_active = std::max(max_active, active);
    if (ex->request().path == "/slow") {  // answer later, from a timer
      held.push_back(ex);
      timer.start(30, 0, [&, ex] {
        --active;
        ex->respond(200, {}, "slow");
      });
      return;
    }
    ex->read_body(1024, [&active, ex](Result<std::string> body) {
      --active;
      ex->respond(200, {}, ex->request().path + ":" + body.value_or("?"));
    });
  });
  std::string out = roundtrip(
      f.loop, f.unix_target(),
      "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
      "GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  auto a = out.find("\r\n\r\nslow"), b = out.find("/post:abc"), c = out.find("/last:");
  REQUIRE(a != std::string::npos);
  REQUIRE(b != std::string::npos);
  REQUIRE(c != std::string::npos);
  CHECK(a < b);
  CHECK(b < c);
  CHECK(max_active == 1);
}

TEST_CASE("chunked request body is decoded", "[http]") {
  Fixture f;
  f.start([](std::shared_ptr<Exchange> ex) {
    ex->read_body(1024, [ex](Result<std::string> body) {
      REQUIRE(body);
      ex->respond(200, {}, "got:" + *body);
    });
  });
  std::string out = roundtrip(f.loop, f.unix_target(),
                                  "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                  "Transfer-Encoding: chunked\r\n\r\n"
                                  "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  CHECK(out.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(body_of(out) == "got:hello world");
}

TEST_CASE("Expect: 100-continue is answered when the body is read", "[http]") {
  Fixture f;
  f.start([](std::shared_ptr<Exchange> ex) {
    if (ex->request().path == "/ignore") {
      ex->respond(403, {}, "no");
      return;
    }
    ex->read_body(0, [ex](Result<std::string> body) { ex->respond(200, {}, body.value_or("?")); });
  });
  auto fut = std::async(std::launch::async, [t = f.unix_target()] {
    int fd = raw_connect(t);
    raw_send(fd, "PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    std::string interim = raw_read_until(fd, "\r\n\r\n");
    raw_send(fd, "hello");
    std::string carry;
    std::string final_response = raw_read_response(fd, carry);
    // Refused without 100: the server closes after its answer.
    raw_send(fd, "PUT /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                 "Expect: 100-continue\r\n\r\n");
    std::string refused = carry + raw_read_all(fd);
    close(fd);
    return std::make_tuple(interim, final_response, refused);
  });
  auto [interim, final_response, refused] = await(f.loop, fut);
  CHECK(interim == "HTTP/1.1 100 Continue\r\n\r\n");
  CHECK(body_of(final_response) == "hello");
  CHECK(refused == "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno");
}

TEST_CASE("read_body over the limit answers 413", "[http]") {
  Fixture f;
  std::optional<Error> err;
  f.start([&](std::shared_ptr<Exchange> ex) {
    ex->read_body(10, [&, ex](Result<std::string> body) {
      REQUIRE_FALSE(body);
      err = body.error();
      CHECK(ex->responded());
      ex->respond(200, {}, "ignored");
    });
  });
  SECTION("with Content-Length") {
    ClientRequest req;
    req.method = "POST";
    req.body = std::string(100, 'x');
    auto r = f.fetch_sync(f.endpoint(), req);
    REQUIRE(r);
    CHECK(r->status == 413);
    CHECK(r->body == R"({"code":413,"message":"request body exceeds 10 bytes"})");
    CHECK(r->headers.get("Content-Type") == "application/json");
    CHECK(r->headers.get("Connection") == "close");
  }
  SECTION("chunked") {
    std::string out = roundtrip(f.loop, f.unix_target(),
                                    "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                    "\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n");
    CHECK(out.rfind("HTTP/1.1 413 Payload Too Large\r\n", 0) == 0);
    CHECK(body_of(out) == R"({"code":413,"message":"request body exceeds 10 bytes"})");
  }
  REQUIRE(err);
  CHECK(err->is(Errc::too_large));
}

TEST_CASE("malformed requests get 400 and oversized heads 431", "[http]") {
  Fixture f;
  int calls = 0;
  ServerOptions opts;
  opts.max_header_bytes = 1024;
  f.start([&](std::shared_ptr<Exchange> ex) {
    ++calls;
    ex->respond(200, {}, "ok");
  }, opts);

  std::string bad =
      roundtrip(f.loop, f.unix_target(), "GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n");
  CHECK(bad.rfind("HTTP/1.1 400 Bad Request\r\n", 0) == 0);
  CHECK(bad.find("Connection: close\r\n") != std::string::npos);
  CHECK(body_of(bad) == R"({"code":400,"message":"Invalid header value char"})");

  std::string garbage = roundtrip(f.loop, f.unix_target(), "\x01\x02 nonsense\r\n\r\n");
  CHECK(garbage.rfind("HTTP/1.1 400 Bad Request\r\n", 0) == 0);
  CHECK(body_of(garbage) == R"({"code":400,"message":"Invalid method encountered"})");

  std::string big = roundtrip(
      f.loop, f.unix_target(), "GET / HTTP/1.1\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n");
  CHECK(big.rfind("HTTP/1.1 431 Request Header Fields Too Large\r\n", 0) == 0);
  CHECK(body_of(big) == R"({"code":431,"message":"request headers exceed 1024 bytes"})");
  CHECK(calls == 0);

  // A head just under the limit still works.
  std::string ok = roundtrip(
      f.loop, f.unix_target(),
      "GET / HTTP/1.1\r\nConnection: close\r\nX-Big: " + std::string(900, 'a') + "\r\n\r\n");
  CHECK(body_of(ok) == "ok");
}

TEST_CASE("HEAD and 204 responses carry no body", "[http]") {
  Fixture f;
  f.start([](std::shared_ptr<Exchange> ex) {
    if (ex->request().method == "HEAD") {
      ex->respond(200, {}, "hello");
    } else if (ex->request().path == "/stream") {
      ex->start(204, {});
      CHECK(ex->write("dropped"));
      ex->finish();
    } else {
      ex->respond(204, {}, "dropped too");
    }
  });
  std::string out = roundtrip(f.loop, f.unix_target(),
                                  "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
                                  "DELETE /x HTTP/1.1\r\nHost: x\r\n\r\n"
                                  "GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(out ==
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nKeep-Alive: timeout=75\r\n\r\n"
        "HTTP/1.1 204 No Content\r\nKeep-Alive: timeout=75\r\n\r\n"
        "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
}

TEST_CASE("a dropped exchange is answered 500; async answers work", "[http]") {
  Fixture f;
  std::shared_ptr<Exchange> later;
  f.start([&](std::shared_ptr<Exchange> ex) {
    if (ex->request().path == "/later") later = ex;
  });
  auto r = f.fetch_sync(f.endpoint(), ClientRequest{});
  REQUIRE(r);
  CHECK(r->status == 500);
  CHECK(r->body == R"({"code":500,"message":"the request handler did not respond"})");

  std::optional<Result<Response>> out;
  ClientRequest req;
  req.target = "/later";
  fetch(f.loop, f.endpoint(), req, [&](Result<Response> res) { out = std::move(res); });
  REQUIRE(run_until(f.loop, [&] { return later != nullptr; }));
  CHECK_FALSE(later->responded());
  Headers h;
  h.add("Content-Type", "application/json");
  later->respond(201, std::move(h), "{}");
  CHECK(later->responded());
  REQUIRE(run_until(f.loop, [&] { return out.has_value(); }));
  REQUIRE(*out);
  CHECK((*out)->status == 201);
  CHECK((*out)->body == "{}");
  later.reset();
}

TEST_CASE("client errors name what failed", "[http]") {
  uv::Loop loop;
  auto fetch_sync = [&](const Endpoint& ep, ClientRequest req = {}) {
    std::optional<Result<Response>> out;
    fetch(loop, ep, std::move(req), [&](Result<Response> r) { out = std::move(r); });
    REQUIRE(run_until(loop, [&] { return out.has_value(); }));
    return std::move(*out);
  };
  std::string missing = temp_socket_path();
  auto r = fetch_sync(Endpoint::unix_socket(missing));
  REQUIRE_FALSE(r);
  CHECK(r.error().message() == "connecting to " + missing + ": No such file or directory");
  CHECK(r.error().errno_value() == ENOENT);

  auto bad_host = fetch_sync(Endpoint::tcp("example.com", 80));
  REQUIRE_FALSE(bad_host);
  CHECK(bad_host.error().is(Errc::invalid_argument));

  // A peer that speaks broken HTTP.
  std::string path = temp_socket_path();
  auto peer = raw_server_once(path, "HTTP/1.1 abc\r\n\r\n");
  auto garbled = fetch_sync(Endpoint::unix_socket(path));
  REQUIRE_FALSE(garbled);
  CHECK(garbled.error().is(Errc::protocol));
  CHECK(peer.get().rfind("GET / HTTP/1.1\r\nHost: localhost\r\n", 0) == 0);

  // A peer that closes without answering.
  auto silent = raw_server_once(path, "");
  auto none = fetch_sync(Endpoint::unix_socket(path));
  REQUIRE_FALSE(none);
  CHECK(none.error().is(Errc::unavailable));
  silent.get();

  // A close-delimited body, and max_body.
  auto old = raw_server_once(path, "HTTP/1.0 200 OK\r\nX-A: b\r\n\r\nuntil the end");
  auto ok = fetch_sync(Endpoint::unix_socket(path));
  REQUIRE(ok);
  CHECK(ok->status == 200);
  CHECK(ok->headers.get("x-a") == "b");
  CHECK(ok->body == "until the end");
  old.get();

  auto big = raw_server_once(path, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" +
                                       std::string(100, 'z'));
  std::optional<Result<Response>> out;
  fetch(loop, Endpoint::unix_socket(path), {}, [&](Result<Response> res) { out = std::move(res); },
        50);
  REQUIRE(run_until(loop, [&] { return out.has_value(); }));
  REQUIRE_FALSE(*out);
  CHECK(out->error().is(Errc::too_large));
  big.get();
  unlink(path.c_str());
}

TEST_CASE("listen_fd adopts Unix and TCP listening sockets", "[http]") {
  uv::Loop loop;
  Server server(loop, {}, echo_handler());
  std::string path = temp_socket_path();
  int ufd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  REQUIRE(bind(ufd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  REQUIRE(listen(ufd, 8) == 0);
  REQUIRE(server.listen_fd(UniqueFd(ufd)));

  int tfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(tfd, reinterpret_cast<sockaddr*>(&in), sizeof(in)) == 0);
  REQUIRE(listen(tfd, 8) == 0);
  REQUIRE(server.listen_fd(UniqueFd(tfd)));
  REQUIRE(server.bound_port() != 0);

  for (const Endpoint& ep :
       {Endpoint::unix_socket(path), Endpoint::tcp("127.0.0.1", server.bound_port())}) {
    std::optional<Result<Response>> out;
    ClientRequest req;
    req.target = "/fd";
    fetch(loop, ep, req, [&](Result<Response> r) { out = std::move(r); });
    REQUIRE(run_until(loop, [&] { return out.has_value(); }));
    REQUIRE(*out);
    CHECK((*out)->body == "/fd|");
  }
  unlink(path.c_str());
}

TEST_CASE("timeouts and connection limits", "[http]") {
  Fixture f;
  ServerOptions opts;
  opts.idle_timeout_ms = 100;
  opts.header_timeout_ms = 100;
  opts.max_connections = 1;
  f.start(echo_handler(), opts);

  // Idle keep-alive connection is closed; the hint says timeout=1 (rounded up).
  auto idle = std::async(std::launch::async, [t = f.unix_target()] {
    int fd = raw_connect(t);
    raw_send(fd, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    auto start = std::chrono::steady_clock::now();
    std::string all = raw_read_all(fd);
    close(fd);
    return std::make_pair(all, std::chrono::steady_clock::now() - start);
  });
  auto [all, took] = await(f.loop, idle);
  CHECK(all.find("Keep-Alive: timeout=1\r\n") != std::string::npos);
  CHECK(body_of(all) == "/a|");
  CHECK(took < 3s);

  // A slow request head is cut off.
  auto slow = std::async(std::launch::async, [t = f.unix_target()] {
    int fd = raw_connect(t);
    raw_send(fd, "GET / HTTP/1.1\r\nHost:");
    std::string rest = raw_read_all(fd);
    close(fd);
    return rest;
  });
  CHECK(await(f.loop, slow).empty());

  // Over max_connections: the second connection is closed at once.
  auto limit = std::async(std::launch::async, [t = f.unix_target()] {
    int first = raw_connect(t);
    raw_send(first, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string carry;
    std::string r1 = raw_read_response(first, carry);
    int second = raw_connect(t);
    raw_send(second, "GET /2 HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string r2 = raw_read_all(second);
    close(second);
    close(first);
    return std::make_pair(r1, r2);
  });
  auto [r1, r2] = await(f.loop, limit);
  CHECK(body_of(r1) == "/1|");
  CHECK(r2.empty());
}

TEST_CASE("a request body that stops arriving is cut off with 408", "[http]") {
  Fixture f;
  ServerOptions opts;
  opts.body_idle_timeout_ms = 200;
  std::optional<Result<std::string>> got;
  f.start(
      [&](std::shared_ptr<Exchange> ex) {
        ex->read_body(0, [&, ex](Result<std::string> body) {
          got = std::move(body);
          if (*got) ex->respond(200, {}, "read " + std::to_string((*got)->size()));
        });
      },
      opts);
  // Headers and half the body, then silence: 408, the connection closes, the handler is told.
  auto stalled = std::async(std::launch::async, [t = f.unix_target()] {
    int fd = raw_connect(t);
    raw_send(fd, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345");
    auto start = std::chrono::steady_clock::now();
    std::string all = raw_read_all(fd);
    close(fd);
    return std::make_pair(all, std::chrono::steady_clock::now() - start);
  });
  auto [all, took] = await(f.loop, stalled);
  CHECK(all.rfind("HTTP/1.1 408 ", 0) == 0);
  CHECK(took < 3s);
  REQUIRE(got);
  REQUIRE_FALSE(*got);
  CHECK(got->error().is(Errc::timeout));

  // A body that keeps trickling in, slower than the timeout in total but never silent that
  // long, is read to the end.
  got.reset();
  auto trickle = std::async(std::launch::async, [t = f.unix_target()] {
    int fd = raw_connect(t);
    raw_send(fd, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n");
    for (char c : std::string("abcde")) {
      std::this_thread::sleep_for(100ms);
      raw_send(fd, std::string(1, c));
    }
    std::string carry;
    std::string r = raw_read_response(fd, carry);
    close(fd);
    return r;
  });
  CHECK(body_of(await(f.loop, trickle)) == "read 5");
}
