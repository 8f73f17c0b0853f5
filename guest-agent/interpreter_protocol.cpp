// SPDX-License-Identifier: Apache-2.0
// Kernel launch commands, request encoding and event validation.
#include "guest-agent/interpreter_protocol.hpp"

#include <fmt/format.h>

#include "guest-agent/interpreter_drivers.hpp"

namespace nexus::agent {

namespace {

bool bash_plain(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == ' ' || c == '_' || c == '.' || c == '/' || c == ',' || c == ':' || c == '=' ||
         c == '+' || c == '-' || c == '@' || c == '%';
}

bool bash_identifier(std::string_view s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  return true;
}

std::string bash_execute(const ExecuteRequest& r) {
  std::string out;
  if (!r.env.empty()) {
    // Remember how to undo each assignment; __nexus_done replays it after the cell.
    std::string env = "__nexus_restore=''\n";
    for (const auto& [k, v] : r.env) {
      if (!bash_identifier(k)) continue;
      env += fmt::format(
          "if [ -n \"${{{0}+x}}\" ]; then __nexus_restore+=\"export {0}=$(printf %q \"${0}\");\"; "
          "else __nexus_restore+='unset {0};'; fi; export {0}={1}\n",
          k, bash_quote(v));
    }
    out += "eval " + bash_quote(env) + "\n";
  }
  out += "eval " + bash_quote(r.code) + " </dev/null\n";
  out += fmt::format("__nexus_done $? {}\n", r.id);
  return out;
}

// Mime fields of a result line: strings, except these objects.
bool is_object_field(std::string_view k) {
  return k == "json" || k == "data" || k == "chart" || k == "extra";
}
bool is_string_field(std::string_view k) {
  return k == "text" || k == "html" || k == "markdown" || k == "svg" || k == "png" ||
         k == "jpeg" || k == "pdf" || k == "latex" || k == "javascript";
}

std::string string_field(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

}  // namespace

std::string bash_quote(std::string_view s) {
  std::string out = "$'";
  for (char c : s) {
    if (c == '\0') continue;
    if (bash_plain(c)) {
      out += c;
    } else {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    }
  }
  out += '\'';
  return out;
}

KernelLaunch kernel_launch(Language language, const std::string& events_path) {
  switch (language) {
    case Language::python:
      return {"python3", {"-u", "-c", std::string(python_driver_source()), events_path}, {}};
    case Language::javascript:
      return {"node",
              {"--expose-internals", "-e", std::string(node_driver_source()), events_path},
              {}};
    case Language::bash: {
      std::string init(bash_driver_source());
      std::string quoted = bash_quote(events_path);
      for (auto pos = init.find("@EVENTS@"); pos != std::string::npos;
           pos = init.find("@EVENTS@", pos + quoted.size()))
        init.replace(pos, 8, quoted);
      return {"bash", {"--norc", "--noprofile", "--noediting", "-i"}, std::move(init)};
    }
  }
  return {};
}

std::string encode_execute(Language language, const ExecuteRequest& request) {
  if (language == Language::bash) return bash_execute(request);
  Json env = Json::object();
  for (const auto& [k, v] : request.env) env[k] = v;
  Json j = {{"type", "execute"}, {"id", request.id}, {"code", request.code}, {"env", env}};
  return dump_json(j) + "\n";
}

Result<KernelEvent> parse_kernel_event(std::string_view line) {
  auto j = parse_json(line);
  if (!j) return fail(std::move(j).error());
  if (!j->is_object()) return fail(Errc::protocol, "kernel event is not an object");
  auto type = string_field(*j, "type");
  KernelEvent ev;
  if (type == "ready") {
    ev.type = KernelEvent::Type::ready;
    return ev;
  }
  auto id = j->find("id");
  if (id == j->end() || !id->is_number_unsigned())
    return fail(Errc::protocol, "kernel event without a valid id");
  ev.id = id->get<uint64_t>();
  if (type == "done") {
    ev.type = KernelEvent::Type::done;
    if (auto st = j->find("status"); st != j->end() && st->is_number_integer())
      ev.status = st->get<long long>();
    return ev;
  }
  if (type == "error") {
    ev.type = KernelEvent::Type::error;
    ev.body = Json{{"type", "error"},
                   {"name", string_field(*j, "name")},
                   {"value", string_field(*j, "value")},
                   {"traceback", string_field(*j, "traceback")}};
    return ev;
  }
  if (type == "result") {
    ev.type = KernelEvent::Type::result;
    Json out = {{"type", "result"}, {"is_main_result", true}, {"extra", Json::object()}};
    for (const auto& [k, v] : j->items()) {
      if (k == "is_main_result" && v.is_boolean()) out[k] = v;
      else if (is_string_field(k) && v.is_string()) out[k] = v;
      else if (is_object_field(k) && (v.is_object() || (k == "json" && v.is_array()))) out[k] = v;
    }
    ev.body = std::move(out);
    return ev;
  }
  return fail(Errc::protocol, "unknown kernel event type");
}

}  // namespace nexus::agent
