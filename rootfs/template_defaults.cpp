// SPDX-License-Identifier: Apache-2.0
#include "rootfs/template_defaults.hpp"

#include <fmt/format.h>

#include "common/strings.hpp"

namespace nexus::rootfs {

namespace {

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

Result<void> check_range(const std::optional<int64_t>& v, const char* field, int64_t lo, int64_t hi) {
  if (v && (*v < lo || *v > hi))
    return fail(Errc::invalid_argument, fmt::format("{} must be between {} and {} (got {})", field, lo, hi, *v));
  return {};
}

// One part of a user spec: a name or a numeric id in 0..65535.
Result<void> check_user_part(std::string_view part, const char* what) {
  if (part.empty()) return fail(Errc::invalid_argument, fmt::format("empty {}", what));
  if (is_digit(part[0])) {
    auto id = parse_int(part);
    if (!id || *id < 0 || *id > 65535)
      return fail(Errc::invalid_argument, fmt::format("{} id '{}' must be a number in 0..65535", what, part));
    return {};
  }
  bool ok = part.size() <= 32 && is_name_start(part[0]);
  for (char c : part) ok = ok && (is_name_start(c) || is_digit(c) || c == '.' || c == '-');
  if (!ok)
    return fail(Errc::invalid_argument,
                fmt::format("invalid {} name '{}' (letters, digits, '.', '_', '-', up to 32)", what, part));
  return {};
}

Result<void> validate_command(const Command& c) {
  if (c.form == Command::Form::exec) {
    if (c.argv.empty()) return fail(Errc::invalid_argument, "start_command: the argv is empty");
    if (c.argv.size() > kMaxArgvEntries)
      return fail(Errc::invalid_argument, fmt::format("start_command: more than {} arguments", kMaxArgvEntries));
    size_t total = 0;
    for (auto& a : c.argv) {
      total += a.size();
      if (a.find('\0') != std::string::npos)
        return fail(Errc::invalid_argument, "start_command: an argument contains a NUL byte");
    }
    if (c.argv[0].empty()) return fail(Errc::invalid_argument, "start_command: the program name is empty");
    if (total > kMaxCommandBytes)
      return fail(Errc::invalid_argument, fmt::format("start_command: longer than {} bytes", kMaxCommandBytes));
    return {};
  }
  if (trim(c.script).empty()) return fail(Errc::invalid_argument, "start_command: the shell command is empty");
  if (c.script.find('\0') != std::string::npos)
    return fail(Errc::invalid_argument, "start_command: contains a NUL byte");
  if (c.script.size() > kMaxCommandBytes)
    return fail(Errc::invalid_argument, fmt::format("start_command: longer than {} bytes", kMaxCommandBytes));
  return {};
}

}  // namespace

std::vector<std::string> Command::to_argv() const {
  if (form == Form::exec) return argv;
  return {"/bin/sh", "-c", script};
}

std::string_view restart_policy_name(RestartPolicy p) {
  switch (p) {
    case RestartPolicy::never: return "never";
    case RestartPolicy::on_failure: return "on-failure";
    case RestartPolicy::always: return "always";
  }
  return "never";
}

Result<Restart> parse_restart(std::string_view text) {
  if (text == "never") return Restart{RestartPolicy::never, 0};
  if (text == "always") return Restart{RestartPolicy::always, 0};
  if (text == "on-failure") return Restart{RestartPolicy::on_failure, 0};
  if (starts_with(text, "on-failure:")) {
    auto n = parse_int(text.substr(11));
    if (!n || *n < 0 || *n > kMaxRestarts)
      return fail(Errc::invalid_argument,
                  fmt::format("invalid restart policy '{}': the count must be 0..{}", text, kMaxRestarts));
    return Restart{RestartPolicy::on_failure, static_cast<int>(*n)};
  }
  return fail(Errc::invalid_argument,
              fmt::format("invalid restart policy '{}' (never, on-failure[:N], always)", text));
}

bool is_valid_env_key(std::string_view key) {
  if (key.empty() || key.size() > 255 || !is_name_start(key[0])) return false;
  for (char c : key)
    if (!is_name_start(c) && !is_digit(c)) return false;
  return true;
}

Result<void> validate_user_spec(std::string_view user) {
  auto colon = user.find(':');
  NEXUS_TRY(check_user_part(user.substr(0, colon), "user"));
  if (colon != std::string_view::npos) NEXUS_TRY(check_user_part(user.substr(colon + 1), "group"));
  return {};
}

Result<void> validate(const TemplateDefaults& d) {
  if (d.base && (d.base->empty() || d.base->size() > 512 || d.base->find_first_of(std::string_view(" \t\n\r\0", 5)) != std::string::npos))
    return fail(Errc::invalid_argument, fmt::format("invalid base '{}'", *d.base));
  NEXUS_TRY(check_range(d.cpus, "cpus", kMinCpus, kMaxCpus));
  NEXUS_TRY(check_range(d.memory_mib, "memory_mib", kMinMemoryMib, kMaxMemoryMib));
  NEXUS_TRY(check_range(d.disk_mib, "disk_mib", kMinDiskMib, kMaxDiskMib));
  NEXUS_TRY(check_range(d.ttl_seconds, "ttl_seconds", kMinTtlSeconds, kMaxTtlSeconds));
  if (d.env.size() > kMaxEnvEntries)
    return fail(Errc::invalid_argument, fmt::format("too many environment variables (max {})", kMaxEnvEntries));
  for (auto& [k, v] : d.env) {
    if (!is_valid_env_key(k))
      return fail(Errc::invalid_argument,
                  fmt::format("invalid environment variable name '{}' ([A-Za-z_][A-Za-z0-9_]*)", k));
    if (v.size() > kMaxEnvValueBytes || v.find('\0') != std::string::npos)
      return fail(Errc::invalid_argument,
                  fmt::format("invalid value for environment variable '{}' (NUL byte or over {} bytes)", k,
                              kMaxEnvValueBytes));
  }
  if (d.workdir) {
    if (d.workdir->empty() || (*d.workdir)[0] != '/')
      return fail(Errc::invalid_argument, fmt::format("workdir '{}' must be an absolute path", *d.workdir));
    if (d.workdir->size() > kMaxPathBytes || d.workdir->find('\0') != std::string::npos)
      return fail(Errc::invalid_argument, "workdir: NUL byte or longer than 4096 bytes");
  }
  if (d.user) {
    auto r = validate_user_spec(*d.user);
    if (!r) return fail(std::move(r.error()).wrap("user"));
  }
  if (d.start_command) NEXUS_TRY(validate_command(*d.start_command));
  if (d.restart) {
    if (d.restart->max_restarts < 0 || d.restart->max_restarts > kMaxRestarts)
      return fail(Errc::invalid_argument, fmt::format("max_restarts must be between 0 and {}", kMaxRestarts));
    if (d.restart->max_restarts != 0 && d.restart->policy != RestartPolicy::on_failure)
      return fail(Errc::invalid_argument, "max_restarts applies only to the on-failure restart policy");
  }
  return {};
}

EffectiveDefaults merge(const TemplateDefaults& tmpl, const SandboxOverrides& request,
                        const EffectiveDefaults& fallback) {
  EffectiveDefaults e = fallback;
  auto pick = [](auto& out, const auto& t, const auto& r) {
    if (r)
      out = *r;
    else if (t)
      out = *t;
  };
  pick(e.base, tmpl.base, request.base);
  pick(e.cpus, tmpl.cpus, request.cpus);
  pick(e.memory_mib, tmpl.memory_mib, request.memory_mib);
  pick(e.disk_mib, tmpl.disk_mib, request.disk_mib);
  pick(e.ttl_seconds, tmpl.ttl_seconds, request.ttl_seconds);
  for (auto& [k, v] : tmpl.env) e.env[k] = v;
  for (auto& [k, v] : request.env) e.env[k] = v;
  pick(e.workdir, tmpl.workdir, request.workdir);
  pick(e.user, tmpl.user, request.user);
  if (request.start_command)
    e.start_command = request.start_command;
  else if (tmpl.start_command)
    e.start_command = tmpl.start_command;
  pick(e.restart, tmpl.restart, request.restart);
  return e;
}

Json to_json(const TemplateDefaults& d) {
  Json j = Json::object();
  if (d.base) j["base"] = *d.base;
  if (d.cpus) j["cpus"] = *d.cpus;
  if (d.memory_mib) j["memory_mib"] = *d.memory_mib;
  if (d.disk_mib) j["disk_mib"] = *d.disk_mib;
  if (d.ttl_seconds) j["ttl_seconds"] = *d.ttl_seconds;
  if (!d.env.empty()) j["env"] = d.env;
  if (d.workdir) j["workdir"] = *d.workdir;
  if (d.user) j["user"] = *d.user;
  if (d.start_command) {
    if (d.start_command->form == Command::Form::exec)
      j["start_command"] = d.start_command->argv;
    else
      j["start_command"] = d.start_command->script;
  }
  if (d.restart)
    j["restart"] = {{"policy", restart_policy_name(d.restart->policy)}, {"max_restarts", d.restart->max_restarts}};
  return j;
}

Result<TemplateDefaults> template_defaults_from_json(const Json& j) {
  if (!j.is_object()) return fail(Errc::invalid_argument, "template defaults: expected a JSON object");
  static constexpr std::string_view kKeys[] = {"base", "cpus",    "memory_mib", "disk_mib",      "ttl_seconds",
                                               "env",  "workdir", "user",       "start_command", "restart"};
  for (auto& [key, value] : j.items()) {
    bool known = false;
    for (auto k : kKeys) known = known || key == k;
    if (!known) return fail(Errc::invalid_argument, fmt::format("template defaults: unknown field '{}'", key));
  }
  TemplateDefaults d;
  auto opt_string = [&](const char* key, std::optional<std::string>& out) -> Result<void> {
    if (!j.contains(key) || j[key].is_null()) return {};
    if (!j[key].is_string()) return fail(Errc::invalid_argument, fmt::format("'{}' must be a string", key));
    out = j[key].get<std::string>();
    return {};
  };
  auto opt_int = [&](const char* key, std::optional<int64_t>& out) -> Result<void> {
    if (!j.contains(key) || j[key].is_null()) return {};
    if (!j[key].is_number()) return fail(Errc::invalid_argument, fmt::format("'{}' must be an integer", key));
    auto v = json_int(j, key);
    if (!v) return fail(std::move(v.error()));
    out = *v;
    return {};
  };
  NEXUS_TRY(opt_string("base", d.base));
  NEXUS_TRY(opt_int("cpus", d.cpus));
  NEXUS_TRY(opt_int("memory_mib", d.memory_mib));
  NEXUS_TRY(opt_int("disk_mib", d.disk_mib));
  NEXUS_TRY(opt_int("ttl_seconds", d.ttl_seconds));
  NEXUS_TRY(opt_string("workdir", d.workdir));
  NEXUS_TRY(opt_string("user", d.user));
  if (auto it = j.find("env"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return fail(Errc::invalid_argument, "'env' must be an object of strings");
    for (auto& [k, v] : it->items()) {
      if (!v.is_string()) return fail(Errc::invalid_argument, fmt::format("env '{}' must be a string", k));
      d.env[k] = v.get<std::string>();
    }
  }
  if (auto it = j.find("start_command"); it != j.end() && !it->is_null()) {
    if (it->is_string()) {
      d.start_command = Command::shell(it->get<std::string>());
    } else if (it->is_array()) {
      std::vector<std::string> argv;
      for (auto& a : *it) {
        if (!a.is_string()) return fail(Errc::invalid_argument, "'start_command' array must hold strings");
        argv.push_back(a.get<std::string>());
      }
      d.start_command = Command::exec(std::move(argv));
    } else {
      return fail(Errc::invalid_argument, "'start_command' must be a string (shell form) or an array (exec form)");
    }
  }
  if (auto it = j.find("restart"); it != j.end() && !it->is_null()) {
    Restart r;
    if (it->is_string()) {
      auto p = parse_restart(it->get<std::string>());
      if (!p) return fail(std::move(p.error()));
      r = *p;
    } else if (it->is_object()) {
      for (auto& [k, v] : it->items())
        if (k != "policy" && k != "max_restarts")
          return fail(Errc::invalid_argument, fmt::format("restart: unknown field '{}'", k));
      auto policy = json_string(*it, "policy", "never");
      if (!policy) return fail(std::move(policy.error()).wrap("restart"));
      auto p = parse_restart(*policy);
      if (!p || policy->find(':') != std::string::npos)
        return fail(Errc::invalid_argument,
                    fmt::format("restart: invalid policy '{}' (never, on-failure, always)", *policy));
      r = *p;
      auto max = json_int(*it, "max_restarts", 0);
      if (!max) return fail(std::move(max.error()).wrap("restart"));
      if (*max < 0 || *max > kMaxRestarts)
        return fail(Errc::invalid_argument, fmt::format("max_restarts must be between 0 and {}", kMaxRestarts));
      r.max_restarts = static_cast<int>(*max);
    } else {
      return fail(Errc::invalid_argument, "'restart' must be an object {policy, max_restarts} or a string");
    }
    d.restart = r;
  }
  return d;
}

}  // namespace nexus::rootfs
