// SPDX-License-Identifier: Apache-2.0
// process.Process RPC handlers.
#include "guest-agent/process_service.hpp"

#include "guest-agent/fs_identity.hpp"

#include <signal.h>
#include <sys/stat.h>

#include <charconv>

#include <fmt/format.h>

#include "common/strings.hpp"
#include "common/connect_envelope.hpp"
#include "common/json.hpp"
#include "guest-agent/paths.hpp"
#include "guest-agent/process_stream.hpp"
#include "guest-agent/rpc_request.hpp"
#include "guest-agent/spawn.hpp"

namespace nexus::agent {
using namespace nexus::connectrpc;  // Connect envelope framing

namespace {

constexpr uint32_t kMaxPtyDimension = 10000;

ConnectError invalid(std::string message) {
  return ConnectError{ConnectCode::invalid_argument, std::move(message)};
}

Result<std::map<std::string, std::string>> string_map(const Json& obj, const char* key) {
  std::map<std::string, std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  if (!it->is_object()) return fail(Errc::invalid_argument, fmt::format("'{}' must be an object", key));
  for (const auto& [k, v] : it->items()) {
    if (!v.is_string())
      return fail(Errc::invalid_argument, fmt::format("'{}' values must be strings", key));
    out[k] = v.get<std::string>();
  }
  return out;
}

Result<std::vector<std::string>> string_list(const Json& obj, const char* key) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  if (!it->is_array()) return fail(Errc::invalid_argument, fmt::format("'{}' must be an array", key));
  for (const auto& v : *it) {
    if (!v.is_string())
      return fail(Errc::invalid_argument, fmt::format("'{}' items must be strings", key));
    out.push_back(v.get<std::string>());
  }
  return out;
}

bool has_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

Result<int> parse_signal(const Json& req) {
  auto it = req.find("signal");
  if (it == req.end() || it->is_null()) return fail(Errc::invalid_argument, "signal is required");
  if (it->is_number_integer()) {
    long long n = it->get<long long>();
    if (n > 0 && n < NSIG) return static_cast<int>(n);
    return fail(Errc::invalid_argument, fmt::format("invalid signal {}", n));
  }
  if (it->is_string()) {
    auto s = it->get<std::string>();
    if (s == "SIGNAL_SIGKILL" || s == "SIGKILL") return SIGKILL;
    if (s == "SIGNAL_SIGTERM" || s == "SIGTERM") return SIGTERM;
  }
  return fail(Errc::invalid_argument, "unsupported signal");
}

Json config_json(const ProcessConfig& c) {
  Json envs = Json::object();
  for (const auto& [k, v] : c.envs) envs[k] = v;
  return Json{{"cmd", c.cmd}, {"args", c.args}, {"envs", envs}, {"cwd", c.cwd}};
}

}  // namespace

Result<std::optional<PtySize>> parse_pty(const Json& req) {
  auto pty = req.find("pty");
  if (pty == req.end() || pty->is_null()) return std::optional<PtySize>();
  if (!pty->is_object()) return fail(Errc::invalid_argument, "'pty' must be an object");
  auto size = pty->find("size");
  if (size == pty->end() || !size->is_object())
    return fail(Errc::invalid_argument, "'pty.size' is required");
  auto cols = json_uint32(*size, "cols");
  if (!cols) return fail(std::move(cols).error());
  auto rows = json_uint32(*size, "rows");
  if (!rows) return fail(std::move(rows).error());
  if (*cols == 0 || *rows == 0 || *cols > kMaxPtyDimension || *rows > kMaxPtyDimension)
    return fail(Errc::invalid_argument,
                fmt::format("invalid terminal size {}x{} (1..{} columns and rows)", *cols, *rows,
                            kMaxPtyDimension));
  return std::optional<PtySize>(
      PtySize{static_cast<uint16_t>(*cols), static_cast<uint16_t>(*rows)});
}

void respond_unary_error(http::Exchange& ex, const ConnectError& error, int status) {
  http::Headers h;
  h.set("Content-Type", "application/json");
  ex.respond(status ? status : connect_http_status(error.code), std::move(h),
             connect_error_json(error));
}

void respond_stream_error(http::Exchange& ex, const ConnectError& error) {
  http::Headers h;
  h.set("Content-Type", "application/connect+json");
  ex.respond(200, std::move(h), encode_envelope(kEnvelopeEndStream, end_stream_payload(&error)));
}

bool is_connect_stream_request(const http::RequestHead& head) {
  auto ct = head.headers.get("Content-Type").value_or("");
  auto semi = ct.find(';');
  std::string_view type = ct.substr(0, semi);
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  return iequals(type, "application/connect+json");
}

void ProcessService::handle(std::string_view method, std::shared_ptr<http::Exchange> ex) {
  bool streaming = method == "Start" || method == "Connect";
  bool unary = method == "List" || method == "SendInput" || method == "SendSignal" ||
               method == "CloseStdin" || method == "Update";
  if (!streaming && !unary) {
    // Known but not implemented (client streaming): 501; unknown: 404.
    bool known = method == "StreamInput";
    ConnectError e{ConnectCode::unimplemented,
                   fmt::format("process.Process/{} is not implemented", method)};
    if (known && is_connect_stream_request(ex->request())) return respond_stream_error(*ex, e);
    return respond_unary_error(*ex, e, known ? 501 : 404);
  }
  std::string m(method);
  read_rpc_request(ex, streaming, [this, ex, m](Json req) {
    if (m == "Start") return start(ex, req);
    if (m == "Connect") return connect(ex, req);
    Result<Json> out = m == "List"         ? list(req)
                       : m == "SendInput"  ? send_input(req)
                       : m == "SendSignal" ? send_signal(req)
                       : m == "Update"     ? update(req)
                                           : close_stdin(req);
    if (!out) return respond_unary_error(*ex, to_connect_error(out.error()));
    respond_unary(*ex, *out);
  });
}

void ProcessService::start(std::shared_ptr<http::Exchange> ex, const Json& req) {
  auto stream_fail = [&](const Error& e) { respond_stream_error(*ex, to_connect_error(e)); };
  auto pty = parse_pty(req);
  if (!pty) return stream_fail(pty.error());
  auto proc = req.find("process");
  if (proc == req.end() || !proc->is_object())
    return respond_stream_error(*ex, invalid("'process' is required"));
  auto cmd = json_string(*proc, "cmd");
  if (!cmd) return stream_fail(cmd.error());
  if (cmd->empty()) return respond_stream_error(*ex, invalid("'process.cmd' is required"));
  auto args = string_list(*proc, "args");
  if (!args) return stream_fail(args.error());
  auto envs = string_map(*proc, "envs");
  if (!envs) return stream_fail(envs.error());
  auto cwd = json_string(*proc, "cwd");
  if (!cwd) return stream_fail(cwd.error());
  auto use_stdin = json_bool(req, "stdin", true);
  if (!use_stdin) return stream_fail(use_stdin.error());
  std::optional<std::string> tag;
  if (auto t = req.find("tag"); t != req.end() && t->is_string()) tag = t->get<std::string>();

  bool bad = has_nul(*cmd);
  for (const auto& a : *args) bad = bad || has_nul(a);
  for (const auto& [k, v] : *envs)
    bad = bad || has_nul(k) || has_nul(v) || k.empty() || k.find('=') != std::string::npos;
  if (bad) return respond_stream_error(*ex, invalid("invalid characters in command or environment"));

  auto name = basic_auth_user(ex->request());
  if (!name) return stream_fail(name.error());
  auto user = state_.resolve_user(*name);
  if (!user) return stream_fail(user.error());

  auto dir = resolve_path(*cwd, user->home, state_.default_workdir());
  if (!dir) return stream_fail(dir.error());
  if (!user_can_enter(*dir, *user, state_.switch_identity()))
    return respond_stream_error(*ex, invalid(fmt::format("cwd '{}' does not exist", *dir)));

  SpawnOptions so;
  so.cmd = *cmd;
  so.args = *args;
  so.env = state_.build_env(*user, *envs);
  so.cwd = *dir;
  so.pipe_stdin = *use_stdin;
  so.pty = *pty;
  so.change_identity = state_.switch_identity();
  so.uid = user->uid;
  so.gid = user->gid;
  so.groups = user->groups;
  auto spawned = spawn_process(so);
  if (!spawned) return stream_fail(spawned.error());

  ProcessConfig config{*cmd, std::move(*args), std::move(*envs), *dir};
  auto process = std::make_shared<Process>(loop_, std::move(*spawned), std::move(config), tag);
  table_.add(process);

  auto stream = std::make_shared<ProcessStream>(loop_, ex, keepalive_interval_ms(ex->request()),
                                                kStreamHighWater);
  stream->open(process, std::nullopt);
  if (auto t = connect_timeout_ms(ex->request())) process->set_deadline(*t);
  process->start_io();
}

void ProcessService::connect(std::shared_ptr<http::Exchange> ex, const Json& req) {
  auto process = select(req);
  if (!process) return respond_stream_error(*ex, to_connect_error(process.error()));
  auto stream = std::make_shared<ProcessStream>(loop_, ex, keepalive_interval_ms(ex->request()),
                                                kStreamHighWater);
  stream->open(*process, connect_timeout_ms(ex->request()));
}

Result<std::shared_ptr<Process>> ProcessService::select(const Json& req) {
  auto sel = req.find("process");
  if (sel == req.end() || !sel->is_object())
    return fail(Errc::invalid_argument, "'process' selector is required");
  if (auto pid = sel->find("pid"); pid != sel->end() && !pid->is_null()) {
    long long n = -1;
    if (pid->is_number_integer()) {
      n = pid->get<long long>();
    } else if (pid->is_string()) {
      auto s = pid->get<std::string>();
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
      if (ec != std::errc() || p != s.data() + s.size()) n = -1;
    }
    if (n <= 0 || n > 0x7fffffff) return fail(Errc::invalid_argument, "invalid pid");
    auto p = table_.find(static_cast<pid_t>(n));
    if (!p) return fail(Errc::not_found, fmt::format("process with pid {} not found", n));
    return p;
  }
  if (auto tag = sel->find("tag"); tag != sel->end() && tag->is_string()) {
    auto p = table_.find_tag(tag->get<std::string>());
    if (!p)
      return fail(Errc::not_found, fmt::format("process with tag '{}' not found", tag->get<std::string>()));
    return p;
  }
  return fail(Errc::invalid_argument, "process selector needs 'pid' or 'tag'");
}

Result<Json> ProcessService::list(const Json&) {
  Json procs = Json::array();
  for (const auto& p : table_.list()) {
    Json e = {{"config", config_json(p->config())}, {"pid", p->pid()}};
    if (p->tag()) e["tag"] = *p->tag();
    procs.push_back(std::move(e));
  }
  return Json{{"processes", procs}};
}

Result<Json> ProcessService::send_input(const Json& req) {
  auto p = select(req);
  if (!p) return fail(std::move(p).error());
  auto input = req.find("input");
  if (input == req.end() || !input->is_object())
    return fail(Errc::invalid_argument, "'input' is required");
  bool to_pty = input->contains("pty") && !(*input)["pty"].is_null();
  bool to_stdin = input->contains("stdin") && !(*input)["stdin"].is_null();
  if (to_pty == to_stdin)
    return fail(Errc::invalid_argument, "'input' needs exactly one of 'stdin' or 'pty'");
  const char* key = to_pty ? "pty" : "stdin";
  auto data = json_string(*input, key);
  if (!data) return fail(std::move(data).error());
  auto bytes = base64_decode(*data);
  if (!bytes) return fail(Errc::invalid_argument, fmt::format("'input.{}' is not valid base64", key));
  NEXUS_TRY(to_pty ? (*p)->write_pty(*bytes) : (*p)->write_stdin(*bytes));
  return Json::object();
}

Result<Json> ProcessService::send_signal(const Json& req) {
  auto p = select(req);
  if (!p) return fail(std::move(p).error());
  auto sig = parse_signal(req);
  if (!sig) return fail(std::move(sig).error());
  (*p)->signal(*sig);
  return Json::object();
}

Result<Json> ProcessService::close_stdin(const Json& req) {
  auto p = select(req);
  if (!p) return fail(std::move(p).error());
  NEXUS_TRY((*p)->close_stdin());
  return Json::object();
}

Result<Json> ProcessService::update(const Json& req) {
  auto size = parse_pty(req);
  if (!size) return fail(std::move(size).error());
  auto p = select(req);
  if (!p) return fail(std::move(p).error());
  if (*size) NEXUS_TRY((*p)->resize_pty(**size));  // envd: no pty field, nothing to do
  return Json::object();
}

}  // namespace nexus::agent
