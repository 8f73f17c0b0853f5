// SPDX-License-Identifier: Apache-2.0
// Maps each command's arguments to its native API request (docs/api.md).
#include "cli/request.hpp"

#include <fmt/format.h>

#include "cli/exit_codes.hpp"
#include "common/strings.hpp"

namespace nexus::cli {

std::string encode_path_segment(std::string_view segment) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : segment) {
    bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '.' || c == '_' || c == '~';
    if (plain) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string language_for_file(std::string_view path) {
  auto ends_with = [&](std::string_view suffix) {
    return path.size() >= suffix.size() && path.substr(path.size() - suffix.size()) == suffix;
  };
  if (ends_with(".js") || ends_with(".mjs") || ends_with(".cjs")) return "javascript";
  if (ends_with(".sh") || ends_with(".bash")) return "bash";
  return "python";
}

namespace {

Json env_object(const std::vector<std::string>& pairs) {
  Json env = Json::object();
  for (const std::string& kv : pairs) {
    auto eq = kv.find('=');  // the parser checked there is one
    env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

// "a,b, c" -> {"a", "b", "c"}; empty pieces dropped.
std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  for (const auto& piece : split(text, ','))
    if (auto t = trim(piece); !t.empty()) out.emplace_back(t);
  return out;
}

int int_value(const Invocation& inv, std::string_view key) {
  return std::stoi(inv.get(key, "0"));  // the parser checked it is a positive int
}

std::string sandbox_path(const std::string& id) {
  return "/v1/sandboxes/" + encode_path_segment(id);
}

Result<std::string> read_code(const Invocation& inv, const CommandEnv& env) {
  if (inv.has("code")) {
    std::string code = inv.get("code");
    if (code != "-") return code;
    if (!env.read_stdin) return fail(Errc::invalid_argument, "cannot read the code from stdin");
    auto text = env.read_stdin();
    if (!text) return fail(Errc::invalid_argument,
                           "reading the code from stdin: " + text.error().message());
    return text;
  }
  if (inv.has("file")) {
    std::string path = inv.get("file");
    auto text = env.read_file ? env.read_file(path)
                              : Result<std::string>(fail(Errc::invalid_argument, "no reader"));
    if (!text) return fail(Errc::invalid_argument, text.error().message());
    return text;
  }
  return fail(Errc::invalid_argument, "give the code with -c CODE, -c - (stdin) or -f FILE");
}

Result<void> build_run(const Invocation& inv, const CommandEnv& env, Command& cmd) {
  auto code = read_code(inv, env);
  if (!code) return fail(code.error());
  std::string language =
      inv.has("language") ? inv.get("language")
                          : (inv.has("file") ? language_for_file(inv.get("file")) : "python");
  Json body = {{"language", language}, {"code", std::move(*code)}};
  if (inv.has("timeout")) {
    cmd.timeout_seconds = int_value(inv, "timeout");
    body["timeout_seconds"] = cmd.timeout_seconds;
  }
  cmd.request = {"POST", sandbox_path(cmd.subject) + "/run", std::move(body)};
  return {};
}

void build_exec(const Invocation& inv, Command& cmd) {
  Json body = {{"cmd", inv.list("cmd")}};
  if (inv.has("env")) body["env"] = env_object(inv.list("env"));
  if (inv.has("cwd")) body["cwd"] = inv.get("cwd");
  if (inv.has("user")) body["user"] = inv.get("user");
  if (inv.has("timeout")) {
    cmd.timeout_seconds = int_value(inv, "timeout");
    body["timeout_seconds"] = cmd.timeout_seconds;
  }
  cmd.request = {"POST", sandbox_path(cmd.subject) + "/exec", std::move(body)};
}

void build_create(const Invocation& inv, Command& cmd) {
  Json body = Json::object();
  if (inv.has("name")) body["name"] = inv.get("name");
  if (inv.has("template")) body["template"] = inv.get("template");
  if (inv.has("ttl")) body["ttl_seconds"] = static_cast<long long>(int_value(inv, "ttl")) * 60;
  if (inv.has("cpus")) body["cpus"] = int_value(inv, "cpus");
  if (inv.has("memory")) body["memory_mib"] = int_value(inv, "memory");
  if (inv.has("env")) body["env"] = env_object(inv.list("env"));
  if (inv.has("isolation")) body["isolation"] = inv.get("isolation");
  if (inv.has("no_network")) {
    body["network"] = "none";
  } else if (inv.has("allow_out") || inv.has("deny_out")) {
    Json network = Json::object();
    for (const char* key : {"allow_out", "deny_out"}) {
      if (!inv.has(key)) continue;
      Json list = Json::array();
      for (const std::string& value : inv.list(key))
        for (const std::string& entry : split_list(value)) list.push_back(entry);
      network[key] = list;
    }
    body["network"] = network;
  }
  cmd.request = {"POST", "/v1/sandboxes", std::move(body)};
}

void build_netpolicy_add(const Invocation& inv, Command& cmd) {
  Json rule = {{"direction", inv.get("direction")}, {"action", inv.get("action")}};
  if (inv.has("cidr")) rule["cidr"] = inv.get("cidr");
  if (inv.has("proto")) rule["protocol"] = inv.get("proto");
  if (inv.has("ports")) rule["ports"] = inv.get("ports");
  if (inv.has("priority")) rule["priority"] = int_value(inv, "priority");
  if (inv.has("rule_id")) rule["id"] = inv.get("rule_id");
  cmd.request = {"POST", sandbox_path(cmd.subject) + "/netpolicy/rules", std::move(rule)};
}

Result<void> build_template_from_file(const Invocation& inv, const CommandEnv& env, Command& cmd) {
  std::string path = inv.get("file");
  auto text = path == "-" ? env.read_stdin() : env.read_file(path);
  if (!text) return fail(std::move(text).error());
  Json defaults = Json::object();
  if (inv.has("cpus")) defaults["cpus"] = int_value(inv, "cpus");
  if (inv.has("memory")) defaults["memory_mib"] = int_value(inv, "memory");
  if (inv.has("ttl")) defaults["ttl_seconds"] = static_cast<long long>(int_value(inv, "ttl")) * 60;
  if (inv.has("env")) defaults["env"] = env_object(inv.list("env"));
  if (inv.has("restart")) defaults["restart"] = inv.get("restart");  // nexusd validates it
  Json body = {{"name", cmd.subject}, {"nexusfile", std::move(*text)}};
  if (!defaults.empty()) body["defaults"] = defaults;
  cmd.request = {"POST", "/v1/templates", std::move(body)};
  if (inv.has("context")) {
    cmd.context_dir = inv.get("context");
  } else if (path != "-") {
    auto slash = path.rfind('/');
    cmd.context_dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  }
  return {};
}

}  // namespace

Result<Command> build_command(const Invocation& inv, const CommandEnv& env) {
  Command cmd;
  cmd.id = inv.id;
  if (inv.has("socket"))
    cmd.socket = inv.get("socket");
  else if (env.socket_env && !env.socket_env->empty())
    cmd.socket = *env.socket_env;
  else
    cmd.socket = std::string(default_socket_path);
  cmd.json = inv.has("json");
  cmd.quiet = inv.has("quiet");
  cmd.detach = inv.has("detach");
  cmd.subject = inv.id == CommandId::template_build ? inv.get("name") : inv.get("id");

  switch (inv.id) {
    case CommandId::sandbox_create: build_create(inv, cmd); break;
    case CommandId::sandbox_run: NEXUS_TRY(build_run(inv, env, cmd)); break;
    case CommandId::sandbox_exec: build_exec(inv, cmd); break;
    case CommandId::sandbox_pause:
      cmd.request = {"POST", sandbox_path(cmd.subject) + "/pause", Json::object()};
      break;
    case CommandId::sandbox_resume:
      cmd.request = {"POST", sandbox_path(cmd.subject) + "/resume", Json::object()};
      break;
    case CommandId::sandbox_stop:
      cmd.request = {"DELETE", sandbox_path(cmd.subject), std::nullopt};
      break;
    case CommandId::sandbox_list:
      cmd.request = {"GET", inv.has("all") ? "/v1/sandboxes?all=1" : "/v1/sandboxes",
                     std::nullopt};
      break;
    case CommandId::sandbox_status:
      cmd.request = {"GET", sandbox_path(cmd.subject), std::nullopt};
      break;
    case CommandId::sandbox_port:
      cmd.request = {"GET", sandbox_path(cmd.subject) + "/ports/" + encode_path_segment(inv.get("port")), std::nullopt};
      break;
    case CommandId::netpolicy_add: build_netpolicy_add(inv, cmd); break;
    case CommandId::netpolicy_list:
      cmd.request = {"GET", sandbox_path(cmd.subject) + "/netpolicy", std::nullopt};
      cmd.all = inv.has("all");
      break;
    case CommandId::netpolicy_rm:
      cmd.request = {"DELETE", sandbox_path(cmd.subject) + "/netpolicy/rules/" + encode_path_segment(inv.get("rule")),
                     std::nullopt};
      break;
    case CommandId::netpolicy_stats:
      cmd.request = {"GET", sandbox_path(cmd.subject) + "/netpolicy/stats", std::nullopt};
      break;
    case CommandId::egress_policy_set: {
      Json body = {{"allow", Json::array()}, {"deny", Json::array()}, {"inject", Json::array()}};
      for (const char* key : {"allow", "deny"})
        for (const std::string& v : inv.list(key))
          for (const std::string& e : split_list(v)) body[key].push_back(e);
      // HOST:Header=PROVIDER (nexusd checks each part; the provider may hold ':' itself).
      for (const std::string& spec : inv.list("inject")) {
        auto colon = spec.find(':');
        auto eq = colon == std::string::npos ? std::string::npos : spec.find('=', colon);
        if (eq == std::string::npos)
          return fail(Errc::invalid_argument,
                      fmt::format("--inject '{}': expected HOST:Header=PROVIDER (file:PATH, env:NAME or command:PATH)", spec));
        body["inject"].push_back({{"host", spec.substr(0, colon)},
                                  {"header", spec.substr(colon + 1, eq - colon - 1)},
                                  {"provider", spec.substr(eq + 1)}});
      }
      cmd.request = {"PUT", "/v1/egress/policies", std::move(body)};
      break;
    }
    case CommandId::egress_policy_show: cmd.request = {"GET", "/v1/egress/policies", std::nullopt}; break;
    case CommandId::egress_audit: {
      std::string q;
      auto add = [&](const char* k, const std::string& v) { q += (q.empty() ? "?" : "&") + std::string(k) + "=" + encode_path_segment(v); };
      if (inv.has("sandbox")) add("sandbox", inv.get("sandbox"));
      if (inv.has("since")) add("since", inv.get("since"));
      if (inv.has("limit")) add("limit", inv.get("limit"));
      cmd.request = {"GET", "/v1/egress/audit" + q, std::nullopt};
      break;
    }
    case CommandId::egress_stats: cmd.request = {"GET", "/v1/egress/stats", std::nullopt}; break;
    case CommandId::template_list: cmd.request = {"GET", "/v1/templates", std::nullopt}; break;
    case CommandId::template_build:
      if (inv.has("file")) {
        NEXUS_TRY(build_template_from_file(inv, env, cmd));
        break;
      }
      for (const char* opt : {"context", "cpus", "memory", "ttl", "env", "restart"})
        if (inv.has(opt)) return fail(Errc::invalid_argument, fmt::format("--{} needs -f NEXUSFILE", opt));
      cmd.request = {"POST", "/v1/templates/" + encode_path_segment(cmd.subject) + "/build",
                     Json::object()};
      break;
    case CommandId::template_show:
      cmd.request = {"GET", "/v1/templates/" + encode_path_segment(cmd.subject), std::nullopt};
      break;
    case CommandId::template_rm:
      cmd.request = {"DELETE", "/v1/templates/" + encode_path_segment(cmd.subject), std::nullopt};
      break;
    case CommandId::template_build_watch:
    case CommandId::template_watch: break;  // cli/build_watch.cpp makes its own requests
    case CommandId::image_pull: {
      Json body = {{"reference", cmd.subject}};
      if (inv.has("platform")) body["platform"] = inv.get("platform");
      cmd.request = {"POST", "/v1/images/pull", std::move(body)};
      break;
    }
    case CommandId::image_list: cmd.request = {"GET", "/v1/images", std::nullopt}; break;
    case CommandId::image_inspect:
      cmd.request = {"GET", "/v1/images/" + encode_path_segment(cmd.subject), std::nullopt};
      break;
    case CommandId::image_rm:
      cmd.request = {"DELETE", "/v1/images/" + encode_path_segment(cmd.subject), std::nullopt};
      break;
    case CommandId::auth_key_create: {
      Json body = Json::object();
      if (inv.has("user")) body["user"] = inv.get("user");
      if (inv.has("name")) body["name"] = inv.get("name");
      if (inv.has("admin")) body["admin"] = true;
      cmd.request = {"POST", "/v1/auth/keys", std::move(body)};
      break;
    }
    case CommandId::auth_key_list: cmd.request = {"GET", "/v1/auth/keys", std::nullopt}; break;
    case CommandId::auth_key_revoke:
      cmd.request = {"DELETE", "/v1/auth/keys/" + encode_path_segment(cmd.subject), std::nullopt};
      break;
    case CommandId::e2b_env: cmd.request = {"GET", "/v1/e2b", std::nullopt}; break;
    case CommandId::doctor: cmd.request = {"GET", "/v1/host", std::nullopt}; break;
    case CommandId::version: cmd.request = {"GET", "/v1/version", std::nullopt}; break;
  }
  return cmd;
}

CommandLine parse_command_line(std::span<const std::string> args, const CommandEnv& env) {
  CommandLine line;
  ParseOutcome parsed = parse_arguments(args);
  if (!parsed.invocation) {
    line.exit_code = parsed.exit_code;
    line.out = std::move(parsed.out);
    line.err = std::move(parsed.err);
    return line;
  }
  auto cmd = build_command(*parsed.invocation, env);
  if (!cmd) {
    line.exit_code = exit_usage;
    line.err = fmt::format("nexus: {}\n", cmd.error().message());
    return line;
  }
  line.command = std::move(*cmd);
  return line;
}

}  // namespace nexus::cli
