// SPDX-License-Identifier: Apache-2.0
// run and exec: translate native API requests into agent Start streams.
#include "daemon/command_api.hpp"

#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "common/log.hpp"
#include "common/strings.hpp"
#include "daemon/api_util.hpp"

namespace nexus::daemon {
namespace {

constexpr size_t kMaxCodeBytes = 120 * 1024;            // fits one argv string (MAX_ARG_STRLEN)
constexpr size_t kMaxRunOutput = 32 * 1024 * 1024;      // per stream, kept in daemon memory
constexpr size_t kExecHighWater = 1 * 1024 * 1024;      // pause the agent stream above this
constexpr int64_t kMaxTimeoutSeconds = 24 * 3600;

Result<int64_t> parse_timeout(const Json& body) {
  auto t = json_int(body, "timeout_seconds", 0);
  if (!t) return t;
  if (*t < 0 || *t > kMaxTimeoutSeconds)
    return fail(Errc::invalid_argument, fmt::format("timeout_seconds must be between 0 and {}", kMaxTimeoutSeconds));
  return *t;
}

struct RunState {
  std::string stdout_buf, stderr_buf;
  bool truncated = false;
  ProcessEnd end;
  bool have_end = false;
  std::chrono::steady_clock::time_point started;
  std::shared_ptr<ProcessCall> call;
};

void append_capped(std::string& buf, std::string_view data, bool& truncated) {
  size_t room = kMaxRunOutput - std::min(kMaxRunOutput, buf.size());
  if (data.size() > room) truncated = true;
  buf.append(data.substr(0, room));
}

}  // namespace

Result<ProcessSpec> run_command_for(const std::string& language, const std::string& code) {
  ProcessSpec spec;
  if (language == "python") {
    spec.cmd = "/usr/bin/python3";
    spec.args = {"-c", code};
  } else if (language == "javascript") {
    spec.cmd = "/usr/bin/node";
    spec.args = {"-e", code};
  } else if (language == "bash") {
    spec.cmd = "/bin/bash";
    spec.args = {"-c", code};
  } else {
    return fail(Errc::invalid_argument,
                fmt::format("unknown language '{}': use python, javascript or bash", language));
  }
  return spec;
}

void handle_run(SandboxManager& mgr, const std::string& id, Json body, std::shared_ptr<http::Exchange> ex) {
  auto language = json_string(body, "language", "python");
  auto code = json_string(body, "code");
  auto timeout = parse_timeout(body);
  auto env = parse_env_field(body);
  for (auto* err : {language ? nullptr : &language.error(), code ? nullptr : &code.error(),
                    timeout ? nullptr : &timeout.error(), env ? nullptr : &env.error()})
    if (err) return reply_error(ex, *err);
  if (!body.contains("code")) return reply_error(ex, Error(Errc::invalid_argument, "field 'code' is required"));
  if (code->size() > kMaxCodeBytes)
    return reply_error(ex, Error(Errc::too_large, fmt::format("code is {} bytes; the limit is {}", code->size(), kMaxCodeBytes)));
  if (code->find('\0') != std::string::npos)
    return reply_error(ex, Error(Errc::invalid_argument, "code must not contain NUL bytes"));
  auto spec = run_command_for(*language, *code);
  if (!spec) return reply_error(ex, spec.error());
  auto agent = mgr.begin_command(id);
  if (!agent) return reply_error(ex, agent.error());

  spec->env = std::move(*env);
  spec->timeout_ms = static_cast<uint64_t>(*timeout) * 1000;
  auto st = std::make_shared<RunState>();
  st->started = std::chrono::steady_clock::now();
  int64_t timeout_s = *timeout;
  ProcessCallbacks cb;
  cb.on_stdout = [st](std::string_view d) { append_capped(st->stdout_buf, d, st->truncated); };
  cb.on_stderr = [st](std::string_view d) { append_capped(st->stderr_buf, d, st->truncated); };
  cb.on_end = [st](const ProcessEnd& e) {
    st->end = e;
    st->have_end = true;
  };
  cb.on_done = [&mgr, st, ex, id, timeout_s](Result<void> r) {
    mgr.end_command(id);
    st->call.reset();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - st->started).count();
    Json out = {{"sandbox_id", id}, {"stdout", st->stdout_buf}, {"stderr", st->stderr_buf},
                {"exit_code", st->have_end ? st->end.exit_code : -1},
                {"execution_time", std::round(secs * 1000) / 1000}, {"timed_out", false}};
    if (st->truncated) out["truncated"] = true;
    if (!r && r.error().is(Errc::timeout)) {
      out["timed_out"] = true;
      out["exit_code"] = -1;
      out["error"] = fmt::format("Code execution exceeded {} second timeout", timeout_s);
    } else if (!r) {
      return reply_error(ex, std::move(r.error()).wrap("running code"));
    } else if (!st->have_end) {
      return reply_error(ex, Error(Errc::protocol, "the sandbox agent ended the run without an exit status"));
    }
    reply_json(ex, 200, out);  // program output need not be UTF-8: reply_json replaces bad bytes
  };
  st->call = (*agent)->start(*spec, std::move(cb));
  ex->on_abort([st] {
    if (st->call) st->call->cancel();
  });
}

void handle_exec(SandboxManager& mgr, const std::string& id, Json body, std::shared_ptr<http::Exchange> ex) {
  ProcessSpec spec;
  auto cmd = body.find("cmd");
  if (cmd == body.end() || !cmd->is_array() || cmd->empty())
    return reply_error(ex, Error(Errc::invalid_argument, "field 'cmd' must be a non-empty array of strings"));
  for (auto& a : *cmd) {
    if (!a.is_string()) return reply_error(ex, Error(Errc::invalid_argument, "field 'cmd' must contain only strings"));
    if (a.get<std::string>().find('\0') != std::string::npos)
      return reply_error(ex, Error(Errc::invalid_argument, "arguments must not contain NUL bytes"));
  }
  spec.cmd = (*cmd)[0].get<std::string>();
  for (size_t i = 1; i < cmd->size(); ++i) spec.args.push_back((*cmd)[i].get<std::string>());
  auto env = parse_env_field(body);
  auto cwd = json_string(body, "cwd");
  auto user = json_string(body, "user");  // empty: the agent's default (the template's user, else "user")
  auto timeout = parse_timeout(body);
  for (auto* err : {env ? nullptr : &env.error(), cwd ? nullptr : &cwd.error(),
                    user ? nullptr : &user.error(), timeout ? nullptr : &timeout.error()})
    if (err) return reply_error(ex, *err);
  spec.env = std::move(*env);
  spec.cwd = *cwd;
  spec.user = *user;
  spec.timeout_ms = static_cast<uint64_t>(*timeout) * 1000;
  auto agent = mgr.begin_command(id);
  if (!agent) return reply_error(ex, agent.error());

  http::Headers h;
  h.set("Content-Type", "application/x-ndjson");
  h.set("Cache-Control", "no-store");
  ex->start(200, std::move(h));
  struct ExecState {
    std::shared_ptr<ProcessCall> call;
    uint32_t pid = 0;
    bool ended = false;
  };
  auto st = std::make_shared<ExecState>();
  auto emit = [ex, st](const Json& event) {
    ex->write(dump_json(event) + "\n");
    if (st->call && ex->pending_bytes() > kExecHighWater) {
      st->call->pause();
      ex->on_drain([st] {
        if (st->call) st->call->resume();
      });
    }
  };
  ProcessCallbacks cb;
  cb.on_start = [emit, st](uint32_t pid) {
    st->pid = pid;
    emit({{"type", "start"}, {"pid", pid}});
  };
  cb.on_stdout = [emit](std::string_view d) { emit({{"type", "stdout"}, {"data", base64_encode(d)}}); };
  cb.on_stderr = [emit](std::string_view d) { emit({{"type", "stderr"}, {"data", base64_encode(d)}}); };
  cb.on_end = [emit, st](const ProcessEnd& e) {
    st->ended = true;
    emit({{"type", "exit"}, {"exit_code", e.exit_code}, {"status", e.status}});
  };
  cb.on_done = [&mgr, ex, st, id, emit](Result<void> r) {
    mgr.end_command(id);
    st->call.reset();
    if (!r) {
      emit({{"type", "error"}, {"code", api_code_for(r.error())}, {"message", r.error().message()}});
    } else if (!st->ended) {
      emit({{"type", "error"}, {"code", "internal"}, {"message", "the command ended without an exit status"}});
    }
    ex->finish();
  };
  st->call = (*agent)->start(spec, std::move(cb));
  // A client that goes away takes its command with it (like an interrupted `docker exec -t`).
  ex->on_abort([st, &mgr, id] {
    if (st->call) st->call->cancel();
    if (!st->pid || st->ended) return;
    if (auto a = mgr.begin_command(id)) (*a)->kill(st->pid, [](Result<void>) {});
  });
}

}  // namespace nexus::daemon
