// SPDX-License-Identifier: Apache-2.0
// Test harness: the real nexus-agent binary (--single-user) on a Unix socket, and a client
// for its REST and Connect RPC endpoints.
#pragma once

#include <catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/connect_envelope.hpp"
#include "common/http.hpp"
#include "common/json.hpp"
#include "common/strings.hpp"
#include "common/uv.hpp"

namespace agent_test {

using namespace nexus;
using namespace nexus::connectrpc;  // Connect envelope framing
namespace fs = std::filesystem;

/// Run `loop` until `pred()` holds or `timeout_s` seconds pass.
inline void run_loop_until(uv::Loop& loop, const std::function<bool()>& pred, int timeout_s = 30) {
  uv::Timer guard(loop);
  bool expired = false;
  guard.start(static_cast<uint64_t>(timeout_s) * 1000, 0, [&] {
    expired = true;
    loop.stop();
  });
  while (!pred() && !expired) loop.run();
  guard.stop();
}

/// One request on `loop`, waited for; the test fails if it does not complete.
inline http::Response fetch_blocking(uv::Loop& loop, const http::Endpoint& ep, http::ClientRequest req) {
  std::optional<Result<http::Response>> out;
  http::fetch(loop, ep, std::move(req), [&](Result<http::Response> r) {
    out = std::move(r);
    loop.stop();
  });
  run_loop_until(loop, [&] { return out.has_value(); });
  REQUIRE(out.has_value());
  REQUIRE(out->has_value());
  return std::move(**out);
}

class AgentProcess {
 public:
  AgentProcess() {
    char tmpl[] = "/tmp/nexus-agent-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    dir_ = tmpl;
    home_ = dir_ + "/home";
    fs::create_directories(home_);
    sock_ = dir_ + "/agent.sock";
    const char* exe = std::getenv("NEXUS_AGENT");
    REQUIRE(exe);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::setenv("HOME", home_.c_str(), 1);
      ::setenv("TMPDIR", dir_.c_str(), 1);  // kernel FIFOs go away with the test directory
      ::execl(exe, exe, "--listen", sock_.c_str(), "--single-user", "--log-level", "warning",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 500 && !fs::exists(sock_); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE(fs::exists(sock_));
  }
  ~AgentProcess() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  const std::string& sock() const { return sock_; }
  const std::string& dir() const { return dir_; }
  const std::string& home() const { return home_; }
  pid_t pid() const { return pid_; }

 private:
  std::string dir_, home_, sock_;
  pid_t pid_ = -1;
};

struct StreamResult {
  int status = 0;
  std::string content_type;
  std::vector<Json> messages;     // normal envelopes
  std::optional<Json> end_stream;  // the end-of-stream payload
  bool completed = false;
  std::string stdout_text, stderr_text;
  std::optional<Json> end_event;
  int keepalives = 0;
};

/// "/process.Process/<method>", or "/<method>" when it names a service ("pkg.Svc/Method").
inline std::string rpc_path(const std::string& method) {
  return method.find('/') != std::string::npos ? "/" + method : "/process.Process/" + method;
}

class Client {
 public:
  explicit Client(const AgentProcess& agent) : ep_(http::Endpoint::unix_socket(agent.sock())) {}

  uv::Loop& loop() { return loop_; }
  /// The most recent stream_async() call (to cancel it).
  std::shared_ptr<http::ClientCall> last_call() const { return calls_.back(); }

  /// A unary call to filesystem.Filesystem/<method>.
  http::Response fs_rpc(const std::string& method, const Json& body, http::Headers headers = {}) {
    http::ClientRequest req;
    req.method = "POST";
    req.target = "/filesystem.Filesystem/" + method;
    req.headers = std::move(headers);
    req.headers.set("Content-Type", "application/json");
    req.body = dump_json(body);
    return fetch(std::move(req));
  }

  void fetch_async(http::ClientRequest req, std::function<void(Result<http::Response>)> done) {
    http::fetch(loop_, ep_, std::move(req), std::move(done));
  }

  http::Response fetch(http::ClientRequest req) {
    return fetch_blocking(loop_, ep_, std::move(req));
  }

  http::Response rpc(const std::string& method, const Json& body) {
    http::ClientRequest req;
    req.method = "POST";
    req.target = rpc_path(method);
    req.headers.set("Content-Type", "application/json");
    req.headers.set("Connect-Protocol-Version", "1");
    req.body = body.dump();
    return fetch(std::move(req));
  }

  void rpc_async(const std::string& method, const Json& body,
                 std::function<void(Result<http::Response>)> done) {
    http::ClientRequest req;
    req.method = "POST";
    req.target = rpc_path(method);
    req.headers.set("Content-Type", "application/json");
    req.body = body.dump();
    fetch_async(std::move(req), std::move(done));
  }

  /// Start a server-stream call; on_message sees every normal message as it arrives and
  /// on_done runs when the response ended. Must not be nested in another sync call.
  std::shared_ptr<StreamResult> stream_async(const std::string& method, const Json& body,
                                             http::Headers headers,
                                             std::function<void(const Json&)> on_message,
                                             std::function<void()> on_done) {
    auto res = std::make_shared<StreamResult>();
    auto reader = std::make_shared<EnvelopeReader>(64 * 1024 * 1024);
    http::ClientRequest req;
    req.method = "POST";
    req.target = rpc_path(method);
    req.headers = std::move(headers);
    req.headers.set("Content-Type", "application/connect+json");
    req.body = encode_envelope(0, body.dump());
    http::ResponseCallbacks cb;
    cb.on_head = [res](const http::ResponseHead& h) {
      res->status = h.status;
      res->content_type = std::string(h.headers.get("Content-Type").value_or(""));
    };
    cb.on_data = [res, reader, on_message](std::string_view d) {
      reader->feed(d);
      for (;;) {
        auto n = reader->next();
        REQUIRE(n);
        if (!*n) break;
        auto j = parse_json((*n)->payload);
        REQUIRE(j);
        if ((*n)->flags & kEnvelopeEndStream) {
          CHECK_FALSE(res->end_stream.has_value());
          res->end_stream = *j;
          continue;
        }
        CHECK_FALSE(res->end_stream.has_value());  // nothing after end-of-stream
        res->messages.push_back(*j);
        const Json& ev = (*j)["event"];
        if (ev.contains("data")) {
          if (ev["data"].contains("stdout"))
            res->stdout_text += base64_decode(ev["data"]["stdout"].get<std::string>()).value();
          if (ev["data"].contains("stderr"))
            res->stderr_text += base64_decode(ev["data"]["stderr"].get<std::string>()).value();
        }
        if (ev.contains("end")) res->end_event = ev["end"];
        if (ev.contains("keepalive")) ++res->keepalives;
        if (on_message) on_message(*j);
      }
    };
    cb.on_end = [res, reader, on_done](Result<void> r) {
      res->completed = r.has_value() && reader->finish().has_value();
      if (on_done) on_done();
    };
    calls_.push_back(http::request(loop_, ep_, std::move(req), std::move(cb)));
    return res;
  }

  /// Run a server-stream call to its end.
  StreamResult stream(const std::string& method, const Json& body, http::Headers headers = {},
                      std::function<void(const Json&)> on_message = {}, int timeout_s = 30) {
    bool done = false;
    auto res = stream_async(method, body, std::move(headers), std::move(on_message), [&] {
      done = true;
      loop_.stop();
    });
    run_until([&] { return done; }, timeout_s);
    REQUIRE(done);
    return *res;
  }

  void run_until(const std::function<bool()>& pred, int timeout_s = 30) { run_loop_until(loop_, pred, timeout_s); }

 private:
  uv::Loop loop_;
  http::Endpoint ep_;
  std::vector<std::shared_ptr<http::ClientCall>> calls_;
};


}  // namespace agent_test
