// SPDX-License-Identifier: Apache-2.0
// AgentClient implementation: Connect RPC (JSON codec) over the agent's Unix socket.
#include "daemon/agent_client.hpp"

#include <fmt/format.h>

#include "common/strings.hpp"
#include "common/connect_envelope.hpp"

namespace nexus::daemon {
namespace {

constexpr size_t kMaxUnaryResponse = 1 * 1024 * 1024;
constexpr size_t kMaxStreamMessage = 16 * 1024 * 1024;  // the agent is untrusted

Error agent_error(const std::string& code, const std::string& message) {
  Errc e = Errc::internal;
  if (code == "deadline_exceeded") e = Errc::timeout;
  else if (code == "not_found") e = Errc::not_found;
  else if (code == "invalid_argument") e = Errc::invalid_argument;
  else if (code == "unauthenticated") e = Errc::unauthenticated;
  else if (code == "unavailable") e = Errc::unavailable;
  return Error(e, message.empty() ? code : message);
}

class StreamCall final : public ProcessCall, public std::enable_shared_from_this<StreamCall> {
 public:
  explicit StreamCall(ProcessCallbacks cb) : cb_(std::move(cb)) {}

  void cancel() override {
    if (auto c = call_) c->cancel();
  }
  void pause() override {
    if (call_) call_->pause();
  }
  void resume() override {
    if (call_) call_->resume();
  }

  void on_head(const http::ResponseHead& head) {
    auto ct = head.headers.get("content-type");
    if (head.status != 200 || !ct || !starts_with(*ct, "application/connect+json"))
      fail_once(Error(Errc::protocol, fmt::format("agent answered HTTP {} to Start", head.status)));
  }

  void on_data(std::string_view data) {
    if (done_) return;
    reader_.feed(data);
    while (!done_) {
      auto next = reader_.next();
      if (!next) return fail_once(Error(Errc::protocol, "agent stream: " + next.error().message()));
      if (!*next) break;
      handle_frame(**next);
    }
  }

  void on_end(Result<void> r) {
    if (done_) return;
    if (!r) return fail_once(Error(Errc::unavailable, r.error().message()));
    fail_once(Error(Errc::protocol, "agent closed the stream without an end-of-stream message"));
  }

  std::shared_ptr<http::ClientCall> call_;

 private:
  void handle_frame(const connectrpc::Envelope& f) {
    auto j = parse_json(f.payload);
    if (!j || !j->is_object()) return fail_once(Error(Errc::protocol, "agent sent a malformed stream message"));
    if (f.flags & connectrpc::kEnvelopeEndStream) {
      if (j->contains("error") && (*j)["error"].is_object()) {
        auto& e = (*j)["error"];
        auto code = json_string(e, "code").value_or("unknown");
        auto msg = json_string(e, "message").value_or("");
        return finish(fail(agent_error(code, msg)));
      }
      return finish({});
    }
    auto ev = j->find("event");
    if (ev == j->end() || !ev->is_object()) return;  // unknown message kinds are ignored
    if (auto s = ev->find("start"); s != ev->end() && s->is_object()) {
      auto pid = json_int(*s, "pid", 0).value_or(0);
      if (pid <= 0 || pid > UINT32_MAX) return fail_once(Error(Errc::protocol, "agent sent a bad pid"));
      if (cb_.on_start) cb_.on_start(static_cast<uint32_t>(pid));
    } else if (auto d = ev->find("data"); d != ev->end() && d->is_object()) {
      for (const char* key : {"stdout", "stderr", "pty"}) {
        auto it = d->find(key);
        if (it == d->end() || !it->is_string()) continue;
        auto bytes = base64_decode(it->get<std::string>());
        if (!bytes) return fail_once(Error(Errc::protocol, "agent sent bad base64 output"));
        if (std::string_view(key) == "stderr") {
          if (cb_.on_stderr) cb_.on_stderr(*bytes);
        } else if (cb_.on_stdout) {
          cb_.on_stdout(*bytes);
        }
      }
    } else if (auto e = ev->find("end"); e != ev->end() && e->is_object()) {
      ProcessEnd end;
      end.exit_code = static_cast<int>(json_int(*e, "exitCode", 0).value_or(0));
      if (e->contains("exit_code")) end.exit_code = static_cast<int>(json_int(*e, "exit_code", 0).value_or(0));
      end.exited = json_bool(*e, "exited", false).value_or(false);
      end.status = json_string(*e, "status").value_or("");
      end.error = json_string(*e, "error").value_or("");
      if (cb_.on_end) cb_.on_end(end);
    }
  }

  void fail_once(Error e) {
    if (done_) return;
    if (auto c = call_) c->cancel();
    finish(fail(std::move(e)));
  }

  void finish(Result<void> r) {
    if (done_) return;
    done_ = true;
    auto cb = std::move(cb_.on_done);
    cb_ = {};
    if (cb) cb(std::move(r));
  }

  ProcessCallbacks cb_;
  connectrpc::EnvelopeReader reader_{kMaxStreamMessage};
  bool done_ = false;
};

}  // namespace

void AgentClient::unary(const std::string& method, const Json& body, std::function<void(Result<Json>)> done) {
  http::ClientRequest req;
  req.method = "POST";
  req.target = "/" + method;
  req.headers.set("Content-Type", "application/json");
  req.headers.set("Connect-Protocol-Version", "1");
  add_token(req.headers);
  req.body = dump_json(body);
  http::fetch(loop_, endpoint_, std::move(req), [done = std::move(done), method](Result<http::Response> r) {
    if (!r) return done(fail(Error(Errc::unavailable, r.error().message()).wrap("agent unreachable")));
    auto j = parse_json(r->body);
    if (r->status != 200) {
      if (j && j->is_object())
        return done(fail(agent_error(json_string(*j, "code").value_or(""), json_string(*j, "message").value_or(""))));
      return done(fail(Errc::protocol, fmt::format("agent answered HTTP {} to {}", r->status, method)));
    }
    if (!j) return done(fail(Errc::protocol, fmt::format("agent sent malformed JSON for {}", method)));
    done(std::move(*j));
  }, kMaxUnaryResponse);
}

void AgentClient::init(const Json& body, std::function<void(Result<void>)> done) {
  http::ClientRequest req;
  req.method = "POST";
  req.target = "/init";
  req.headers.set("Content-Type", "application/json");
  add_token(req.headers);
  req.body = dump_json(body);
  http::fetch(loop_, endpoint_, std::move(req), [done = std::move(done)](Result<http::Response> r) {
    if (!r) return done(fail(Error(Errc::unavailable, r.error().message())));
    if (r->status / 100 != 2) return done(fail(Errc::protocol, fmt::format("agent answered HTTP {} to /init", r->status)));
    done({});
  }, kMaxUnaryResponse);
}

std::shared_ptr<ProcessCall> AgentClient::start(const ProcessSpec& spec, ProcessCallbacks callbacks) {
  Json process = {{"cmd", spec.cmd}, {"args", spec.args}};
  if (!spec.env.empty()) process["envs"] = spec.env;
  if (!spec.cwd.empty()) process["cwd"] = spec.cwd;
  Json body = {{"process", process}, {"stdin", spec.stdin_pipe}};

  http::ClientRequest req;
  req.method = "POST";
  req.target = "/process.Process/Start";
  req.headers.set("Content-Type", "application/connect+json");
  req.headers.set("Connect-Protocol-Version", "1");
  add_token(req.headers);
  req.headers.set("Keepalive-Ping-Interval", "30");
  req.headers.set("Authorization", "Basic " + base64_encode(spec.user + ":"));
  if (spec.timeout_ms) req.headers.set("Connect-Timeout-Ms", std::to_string(spec.timeout_ms));
  req.body = connectrpc::encode_envelope(0, dump_json(body));

  auto call = std::make_shared<StreamCall>(std::move(callbacks));
  // The stream call keeps itself alive through the callbacks until the HTTP call ends.
  http::ResponseCallbacks cbs;
  cbs.on_head = [call](const http::ResponseHead& h) { call->on_head(h); };
  cbs.on_data = [call](std::string_view d) { call->on_data(d); };
  cbs.on_end = [call](Result<void> r) {
    call->on_end(std::move(r));
    call->call_.reset();
  };
  call->call_ = http::request(loop_, endpoint_, std::move(req), std::move(cbs));
  return call;
}

void AgentClient::kill(uint32_t pid, std::function<void(Result<void>)> done) {
  Json body = {{"process", {{"pid", pid}}}, {"signal", "SIGNAL_SIGKILL"}};
  unary("process.Process/SendSignal", body, [done = std::move(done)](Result<Json> r) {
    if (!r) return done(fail(r.error()));
    done({});
  });
}

}  // namespace nexus::daemon
