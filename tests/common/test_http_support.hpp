// SPDX-License-Identifier: Apache-2.0
// Helpers for the HTTP tests: loop polling, a blocking raw-socket client and server.
#pragma once

#include <unistd.h>

#include <catch.hpp>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>

#include "common/http.hpp"
#include "common/uv.hpp"

namespace nexus::http_test {

using namespace std::chrono_literals;

/// Run `loop` until `done()` is true; false on timeout.
bool run_until(uv::Loop& loop, const std::function<bool()>& done,
               std::chrono::milliseconds timeout = 10s);

/// Run `loop` until the future is ready, then return its value.
template <class T>
T await(uv::Loop& loop, std::future<T>& f, std::chrono::milliseconds timeout = 10s) {
  bool ok = run_until(loop, [&] { return f.wait_for(0s) == std::future_status::ready; }, timeout);
  if (!ok) throw std::runtime_error("timed out waiting for the raw socket peer");
  return f.get();
}

/// A fresh socket path under /tmp.
std::string temp_socket_path();

/// Where a raw client connects: a Unix path, else 127.0.0.1:port.
struct Target {
  std::string unix_path;
  uint16_t port = 0;
};

/// A blocking socket with a 10 s receive timeout; -1 on failure.
int raw_connect(const Target& t);
void raw_send(int fd, std::string_view data);
/// Everything until EOF (or error/timeout).
std::string raw_read_all(int fd);
/// Read until `needle` has been seen (returns all bytes read); "" on EOF first.
std::string raw_read_until(int fd, std::string_view needle);
/// Read one response with a Content-Length body; `carry` holds extra bytes between calls.
std::string raw_read_response(int fd, std::string& carry);
/// Connect, send `request`, read until EOF, close.
std::string raw_roundtrip(const Target& t, std::string request);

/// raw_roundtrip on a helper thread while `loop` runs.
inline std::string roundtrip(uv::Loop& loop, const Target& t, std::string request) {
  auto fut = std::async(std::launch::async, [t, request = std::move(request)] {
    return raw_roundtrip(t, request);
  });
  return await(loop, fut);
}

/// A one-connection raw HTTP server on a Unix socket: accepts once, reads the request head,
/// writes `response` and closes. Returns the received request head.
std::future<std::string> raw_server_once(const std::string& path, std::string response);

/// Body of an HTTP response text ("" if incomplete).
std::string body_of(const std::string& response);

/// Deterministic test data.
std::string pattern(size_t n);

/// A loop and a server on a temporary Unix socket, shared by the HTTP tests.
struct Fixture {
  uv::Loop loop;
  std::string path = temp_socket_path();
  std::unique_ptr<http::Server> server;

  void start(http::Handler handler, http::ServerOptions options = {}) {
    server = std::make_unique<http::Server>(loop, options, std::move(handler));
    auto r = server->listen_unix(path);
    REQUIRE(r);
  }
  Target unix_target() const { return Target{path, 0}; }
  http::Endpoint endpoint() const { return http::Endpoint::unix_socket(path); }

  Result<http::Response> fetch_sync(const http::Endpoint& ep, http::ClientRequest req, size_t max_body = 1 << 26) {
    std::optional<Result<http::Response>> out;
    http::fetch(loop, ep, std::move(req), [&](Result<http::Response> r) { out = std::move(r); }, max_body);
    REQUIRE(run_until(loop, [&] { return out.has_value(); }));
    return std::move(*out);
  }

  ~Fixture() {
    server.reset();
    loop.run_nowait();
    unlink(path.c_str());
  }
};

}  // namespace nexus::http_test
