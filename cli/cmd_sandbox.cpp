// SPDX-License-Identifier: Apache-2.0
// `nexus sandbox ...`: create, run, exec, pause, resume, stop, list, status.
#include <csignal>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"
#include "common/strings.hpp"

namespace nexus::cli {

namespace {

std::string string_field(const Json& obj, const char* key) {
  if (!obj.is_object()) return {};
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string sandbox_id_of(const Json& sandbox, const Command& cmd) {
  std::string id = string_field(sandbox, "sandbox_id");
  return id.empty() ? cmd.subject : id;
}

int create(const Command& cmd, const ApiClient& api, const Console& console) {
  auto answer = api.call(cmd.request);
  if (!answer) return report_failure(console, answer.error(), cmd.socket, false);
  if (cmd.json)
    console.out(json_text(*answer));
  else if (cmd.quiet)
    console.out(sandbox_id_of(*answer, cmd) + "\n");
  else
    console.out(fmt::format("Created sandbox: {}\n", sandbox_id_of(*answer, cmd)));
  return exit_ok;
}

int change_state(const Command& cmd, const ApiClient& api, const Console& console,
                 std::string_view verb) {
  auto answer = api.call(cmd.request);
  if (!answer) return report_failure(console, answer.error(), cmd.socket, false);
  if (cmd.json)
    console.out(json_text(*answer));
  else if (!cmd.quiet)
    console.out(fmt::format("{} sandbox: {}\n", verb, sandbox_id_of(*answer, cmd)));
  return exit_ok;
}

int run_code(const Command& cmd, const ApiClient& api, const Console& console) {
  auto answer = api.call(cmd.request);
  if (!answer) return report_failure(console, answer.error(), cmd.socket, true);
  const Json& result = *answer;
  if (!result.is_object()) {
    console.err("nexus: malformed answer from nexusd\n");
    return exit_nexus_error;
  }
  bool timed_out = result.value("timed_out", false);
  long long code = result.contains("exit_code") && result["exit_code"].is_number_integer()
                       ? result["exit_code"].get<long long>()
                       : -1;
  std::string error = string_field(result, "error");

  if (cmd.json) {
    console.out(json_text(run_result_json(result)));
  } else {
    std::string out = string_field(result, "stdout");
    std::string err = string_field(result, "stderr");
    console.out(out);
    console.err(err);
    if (timed_out || code < 0) {
      if (!err.empty() && err.back() != '\n') console.err("\n");
      std::string message = !error.empty() ? error
                            : timed_out
                                ? fmt::format("Code execution exceeded {} second timeout",
                                              cmd.timeout_seconds)
                                : "the program did not exit normally";
      console.err(timed_out ? message + "\n" : "nexus: " + message + "\n");
    }
  }
  if (timed_out) return exit_timeout;
  if (code < 0) return exit_nexus_error;
  return code > 255 ? 255 : static_cast<int>(code);
}

int exec_command(const Command& cmd, const ApiClient& api, const Console& console) {
  std::optional<int> exit_status;
  std::string error_code, error_message;
  auto streamed = api.stream(cmd.request, [&](const Json& event) {
    std::string type = event.at("type").get<std::string>();
    if (type == "stdout" || type == "stderr") {
      auto bytes = base64_decode(event.at("data").get<std::string>());
      if (!bytes) throw std::runtime_error("bad base64 in an output event");
      if (type == "stdout")
        console.out(*bytes);
      else
        console.err(*bytes);
    } else if (type == "exit") {
      long long code = event.value("exit_code", -1LL);
      exit_status = exec_exit_status(code, event.value("status", std::string()));
    } else if (type == "error") {
      error_code = event.value("code", std::string());
      error_message = event.value("message", std::string("the command failed"));
    }
  });
  if (!streamed) return report_failure(console, streamed.error(), cmd.socket, true);
  if (!error_code.empty() || !error_message.empty()) {
    console.err(fmt::format("nexus: {}\n", error_message));
    return error_code == "deadline_exceeded" ? exit_timeout : exit_nexus_error;
  }
  if (!exit_status) {
    console.err("nexus: the command's output ended without an exit status\n");
    return exit_nexus_error;
  }
  return *exit_status;
}

int list(const Command& cmd, const ApiClient& api, const Console& console) {
  auto answer = api.call(cmd.request);
  if (!answer) return report_failure(console, answer.error(), cmd.socket, false);
  Json sandboxes = array_member(*answer, "sandboxes");
  if (cmd.json) {
    console.out(json_text(sandboxes));
    return exit_ok;
  }
  if (cmd.quiet) {
    for (const Json& sb : sandboxes) console.out(string_field(sb, "sandbox_id") + "\n");
    return exit_ok;
  }
  int64_t now = console.now();
  std::vector<Column> columns = {{"SANDBOX ID", Align::left, false}, {"NAME"}, {"STATUS"},
                                 {"TEMPLATE"}, {"CREATED"}, {"EXPIRES"}};
  std::vector<std::vector<Cell>> rows;
  for (const Json& sb : sandboxes) {
    std::string status = field_text(sb, "status");
    bool stopped = status == "stopped" || status == "failed";
    rows.push_back({{field_text(sb, "sandbox_id")},
                    {field_text(sb, "name")},
                    {status, status_color(status)},
                    {field_text(sb, "template")},
                    {relative_time(sb.value("created_at", Json()), now)},
                    {stopped ? "-" : relative_time(sb.value("expires_at", Json()), now)}});
  }
  console.out(format_table(columns, rows, console.width, console.color_out()));
  return exit_ok;
}

std::string with_relative(const Json& sandbox, const char* key, int64_t now) {
  std::string at = field_text(sandbox, key);
  if (at == "-") return at;
  return fmt::format("{} ({})", at, relative_time(sandbox[key], now));
}

int status(const Command& cmd, const ApiClient& api, const Console& console) {
  auto answer = api.call(cmd.request);
  if (!answer) return report_failure(console, answer.error(), cmd.socket, false);
  const Json& sb = *answer;
  if (cmd.json) {
    console.out(json_text(sb));
    return exit_ok;
  }
  int64_t now = console.now();
  std::string state = field_text(sb, "status");
  std::string env;
  if (sb.contains("env") && sb["env"].is_object())
    for (const auto& [k, v] : sb["env"].items())
      env += (env.empty() ? "" : " ") + k + "=" + (v.is_string() ? v.get<std::string>() : dump_json(v));
  std::string uptime = sb.contains("uptime_seconds") && sb["uptime_seconds"].is_number()
                           ? format_duration(sb["uptime_seconds"].get<long long>())
                           : "-";
  std::string memory = field_text(sb, "memory_mib");
  if (memory != "-") memory += " MiB";
  const std::pair<const char*, std::string> lines[] = {
      {"Sandbox ID", field_text(sb, "sandbox_id")},
      {"Name", field_text(sb, "name")},
      {"Status", colorize(state, status_color(state), console.color_out())},
      {"Template", field_text(sb, "template")},
      {"Isolation", field_text(sb, "isolation")},
      {"CPUs", field_text(sb, "cpus")},
      {"Memory", memory},
      {"Env", env.empty() ? "-" : env},
      {"Owner", field_text(sb, "owner")},
      {"Created", with_relative(sb, "created_at", now)},
      {"Expires", with_relative(sb, "expires_at", now)},
      {"Last active", with_relative(sb, "last_active_at", now)},
      {"Uptime", uptime},
  };
  std::string out;
  for (const auto& [key, value] : lines)
    out += fmt::format("{:<13}{}\n", std::string(key) + ":", value);
  console.out(out);
  return exit_ok;
}

int signal_number(std::string_view name) {
  static const std::pair<std::string_view, int> names[] = {
      {"hangup", SIGHUP},       {"interrupt", SIGINT},        {"quit", SIGQUIT},
      {"illegal instruction", SIGILL}, {"trace/breakpoint trap", SIGTRAP},
      {"aborted", SIGABRT},     {"bus error", SIGBUS},        {"floating point exception", SIGFPE},
      {"killed", SIGKILL},      {"user defined signal 1", SIGUSR1},
      {"segmentation fault", SIGSEGV}, {"user defined signal 2", SIGUSR2},
      {"broken pipe", SIGPIPE}, {"alarm clock", SIGALRM},     {"terminated", SIGTERM},
      {"cpu time limit exceeded", SIGXCPU}, {"file size limit exceeded", SIGXFSZ},
  };
  for (const auto& [n, sig] : names)
    if (iequals(name, n)) return sig;
  // "signal: 9", "signal: SIGKILL", "signal: KILL"
  if (!name.empty() && name.front() >= '0' && name.front() <= '9') {
    int n = 0;
    for (char c : name) {
      if (c < '0' || c > '9') return 0;
      n = n * 10 + (c - '0');
      if (n > 64) return 0;
    }
    return n;
  }
  if (starts_with(name, "SIG")) name.remove_prefix(3);
  static const std::pair<std::string_view, int> short_names[] = {
      {"HUP", SIGHUP}, {"INT", SIGINT}, {"QUIT", SIGQUIT}, {"ABRT", SIGABRT}, {"KILL", SIGKILL},
      {"SEGV", SIGSEGV}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM},
      {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"BUS", SIGBUS}, {"FPE", SIGFPE}, {"ILL", SIGILL}};
  for (const auto& [n, sig] : short_names)
    if (name == n) return sig;
  return 0;
}

}  // namespace

int exec_exit_status(long long exit_code, std::string_view status) {
  if (exit_code >= 0) return exit_code > 255 ? 255 : static_cast<int>(exit_code);
  constexpr std::string_view prefix = "signal: ";
  if (starts_with(status, prefix)) {
    std::string_view name = status.substr(prefix.size());
    if (auto core = name.find(" (core dumped)"); core != std::string_view::npos)
      name = name.substr(0, core);
    if (int sig = signal_number(name); sig > 0) return 128 + sig;
  }
  return exit_failed;
}

Json run_result_json(const Json& result) {
  Json out = Json::object();
  for (const char* key : {"sandbox_id", "stdout", "stderr", "exit_code", "execution_time"})
    out[key] = result.is_object() && result.contains(key) ? result[key] : Json();
  for (const char* key : {"timed_out", "error"})
    if (result.is_object() && result.contains(key) && !result[key].is_null())
      out[key] = result[key];
  return out;
}

namespace {
int port(const Command& cmd, const ApiClient& api, const Console& console) {
  int rc = exit_ok;
  auto answer = call_for_text(cmd, api, console, &rc);
  if (!answer) return rc;
  console.out(field_text(*answer, "url") + "\n");
  if (answer->contains("traffic_access_token"))
    console.err(fmt::format("Public traffic is off for {}: send the header e2b-traffic-access-token: {}\n", cmd.subject,
                            field_text(*answer, "traffic_access_token")));
  return exit_ok;
}
}  // namespace

int run_sandbox_command(const Command& cmd, const ApiClient& api, const Console& console) {
  switch (cmd.id) {
    case CommandId::sandbox_create: return create(cmd, api, console);
    case CommandId::sandbox_port: return port(cmd, api, console);
    case CommandId::sandbox_run: return run_code(cmd, api, console);
    case CommandId::sandbox_exec: return exec_command(cmd, api, console);
    case CommandId::sandbox_pause: return change_state(cmd, api, console, "Paused");
    case CommandId::sandbox_resume: return change_state(cmd, api, console, "Resumed");
    case CommandId::sandbox_stop: return change_state(cmd, api, console, "Stopped");
    case CommandId::sandbox_list: return list(cmd, api, console);
    case CommandId::sandbox_status: return status(cmd, api, console);
    default: break;
  }
  console.err("nexus: not a sandbox command\n");
  return exit_usage;
}

}  // namespace nexus::cli
