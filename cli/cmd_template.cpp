// SPDX-License-Identifier: Apache-2.0
// `nexus template ...`: list, build (with a one-line progress display on a terminal).
#include <deque>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"
#include "cli/template_context.hpp"
#include "common/strings.hpp"

namespace nexus::cli {

namespace {

int list(const Command& cmd, const ApiClient& api, const Console& console) {
  auto answer = api.call(cmd.request);
  if (!answer) return report_failure(console, answer.error(), cmd.socket, false);
  Json templates = array_member(*answer, "templates");
  if (cmd.json) {
    console.out(json_text(templates));
    return exit_ok;
  }
  if (cmd.quiet) {
    for (const Json& t : templates) console.out(field_text(t, "name") + "\n");
    return exit_ok;
  }
  int64_t now = console.now();
  std::vector<Column> columns = {{"NAME", Align::left, false}, {"STATUS"},
                                 {"SIZE", Align::right, false}, {"BUILT"}};
  std::vector<std::vector<Cell>> rows;
  for (const Json& t : templates) {
    std::string status = field_text(t, "status");
    rows.push_back({{field_text(t, "name")},
                    {status, status_color(status)},
                    {format_size(t.value("size_bytes", Json()))},
                    {relative_time(t.value("built_at", Json()), now)}});
  }
  console.out(format_table(columns, rows, console.width, console.color_out()));
  return exit_ok;
}

/// Shows build progress on stderr: one rewritten line on a terminal, plain lines otherwise.
class BuildProgress {
 public:
  BuildProgress(const Console& console, const Command& cmd)
      : console_(console),
        name_(cmd.subject),
        live_(console.err_is_tty && !cmd.quiet && !cmd.json),
        plain_(!console.err_is_tty && !cmd.quiet && !cmd.json) {}

  void log(const std::string& line) {
    recent_.push_back(line);
    if (recent_.size() > 20) recent_.pop_front();
    if (plain_) {
      console_.err(line + "\n");
    } else if (live_) {
      static constexpr const char* frames[] = {"|", "/", "-", "\\"};
      std::string head = fmt::format("{} Building {}: ", frames[frame_++ % 4], name_);
      size_t width = console_.width > 0 ? static_cast<size_t>(console_.width) : 80;
      size_t room = width > display_width(head) + 1 ? width - display_width(head) - 1 : 0;
      std::string flat = line;  // no tabs, escapes or carriage returns in a one-line display
      for (char& c : flat)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
      console_.err("\r\x1b[K" + head + fit_width(flat, room));
      shown_ = true;
    }
  }

  /// Clear the progress line; on failure, show the last lines the spinner hid.
  void finish(bool failed) {
    if (!shown_) return;
    console_.err("\r\x1b[K");
    if (failed)
      for (const std::string& l : recent_) console_.err(l + "\n");
  }

 private:
  const Console& console_;
  std::string name_;
  bool live_, plain_;
  bool shown_ = false;
  unsigned frame_ = 0;
  std::deque<std::string> recent_;
};

int build(const Command& cmd, const ApiClient& api, const Console& console) {
  BuildProgress progress(console, cmd);
  std::optional<Json> built;
  std::optional<std::string> error;
  auto streamed = api.stream(cmd.request, [&](const Json& event) {
    if (cmd.json) console.out(json_line(event));
    std::string type = event.at("type").get<std::string>();
    if (type == "log") {
      progress.log(event.value("line", std::string()));
    } else if (type == "done") {
      built = event.value("template", Json::object());
    } else if (type == "error") {
      error = event.value("message", std::string("the build failed"));
    }
  });
  progress.finish(!streamed || error.has_value());
  if (!streamed) return report_failure(console, streamed.error(), cmd.socket, false);
  if (error) {
    console.err(fmt::format("nexus: {}\n", *error));
    return exit_failed;
  }
  if (!built) {
    console.err("nexus: the build stream ended without a result\n");
    return exit_failed;
  }
  if (!cmd.json && !cmd.quiet) {
    std::string size = format_size(built->value("size_bytes", Json()));
    console.out(size == "-" ? fmt::format("Built template: {}\n", cmd.subject)
                            : fmt::format("Built template: {} ({})\n", cmd.subject, size));
  }
  return exit_ok;
}

/// `template build NAME -f FILE`: POST /v1/templates, then follow GET /v1/builds/{id}/events.
int build_from_file(const Command& cmd, const ApiClient& api, const Console& console) {
  ApiRequest req = cmd.request;
  if (!cmd.context_dir.empty()) {
    auto tar = pack_context(cmd.context_dir);
    if (!tar) {
      console.err(fmt::format("nexus: packing the build context: {}\n", tar.error().message()));
      return exit_failed;
    }
    (*req.body)["context"] = base64_encode(*tar);
  }
  auto started = api.call(req);
  if (!started) return report_failure(console, started.error(), cmd.socket, false);
  std::string id = field_text(*started, "build_id");
  if (cmd.detach || cmd.quiet) {
    if (cmd.detach) console.out(cmd.json ? json_line(*started) : id + "\n");
    if (cmd.detach) return exit_ok;
  } else if (!cmd.json) {
    console.out(fmt::format("Build {}: template {}\n", id, cmd.subject));
  }
  std::vector<std::string> steps;
  std::optional<Json> built;
  std::optional<std::string> error;
  auto streamed = api.stream({"GET", "/v1/builds/" + encode_path_segment(id) + "/events", std::nullopt}, [&](const Json& ev) {
    if (cmd.json) {
      console.out(json_line(ev));
      return;
    }
    std::string type = ev.value("type", "");
    if (type == "build") {
      for (const Json& s : ev.value("steps", Json::array())) steps.push_back(s.value("text", std::string()));
    } else if (type == "step") {
      size_t i = ev.value("index", size_t{0});
      std::string state = ev.value("state", "");
      std::string text = i >= 1 && i <= steps.size() ? steps[i - 1] : "";
      if (cmd.quiet) return;
      if (state == "running") console.out(fmt::format("[{}/{}] {}\n", i, steps.size(), text));
      else if (state == "failed")
        console.out(fmt::format("[{}/{}] failed after {:.1f} s\n", i, steps.size(), ev.value("elapsed_ms", 0) / 1000.0));
    } else if (type == "log") {
      if (!cmd.quiet) console.out("      " + ev.value("line", std::string()) + "\n");
    } else if (type == "done") {
      built = ev.value("template", Json::object());
    } else if (type == "error") {
      error = ev.value("message", std::string("the build failed"));
    }
  });
  if (!streamed) return report_failure(console, streamed.error(), cmd.socket, false);
  if (cmd.json) {
    // The events carry the outcome; the exit status says it too.
    auto state = api.call({"GET", "/v1/builds/" + encode_path_segment(id), std::nullopt});
    return state && field_text(*state, "state") == "done" ? exit_ok : exit_failed;
  }
  if (error) {
    console.err(fmt::format("nexus: {}\n", *error));
    return exit_failed;
  }
  if (!built) {
    console.err("nexus: the build stream ended without a result\n");
    return exit_failed;
  }
  if (!cmd.quiet) {
    std::string size = format_size(built->value("size_bytes", Json()));
    console.out(fmt::format("Built template: {} ({})\n", cmd.subject, size));
  }
  return exit_ok;
}

int show(const Command& cmd, const ApiClient& api, const Console& console) {
  auto answer = api.call(cmd.request);
  if (!answer) return report_failure(console, answer.error(), cmd.socket, false);
  if (cmd.json) {
    console.out(json_text(*answer));
    return exit_ok;
  }
  const Json& t = *answer;
  std::string out = fmt::format("Name:     {}\nStatus:   {}\n", field_text(t, "name"), field_text(t, "status"));
  if (t.contains("build_id")) out += fmt::format("Build:    {} (nexus template watch {})\n", field_text(t, "build_id"), field_text(t, "name"));
  if (auto b = t.find("base"); b != t.end() && b->is_object()) {
    if (b->value("type", "") == "image")
      out += fmt::format("Base:     {} ({})\n", b->value("reference", ""), b->value("manifest_digest", ""));
    else
      out += fmt::format("Base:     debian:{}\n", b->value("suite", ""));
  }
  if (t.contains("built_at")) out += fmt::format("Built:    {} ({})\n", field_text(t, "built_at"), format_size(t.value("size_bytes", Json())));
  Json d = t.value("defaults", Json::object());
  auto line = [&](const char* label, const char* key) {
    if (d.contains(key)) out += fmt::format("{:<10}{}\n", label, d[key].is_string() ? d[key].get<std::string>() : dump_json(d[key]));
  };
  line("CPUs:", "cpus");
  line("Memory:", "memory_mib");
  line("TTL:", "ttl_seconds");
  line("User:", "user");
  line("Workdir:", "workdir");
  line("Command:", "start_command");
  line("Restart:", "restart");
  if (d.contains("env") && d["env"].is_object() && !d["env"].empty()) {
    out += "Env:\n";
    for (auto& [k, v] : d["env"].items()) out += fmt::format("  {}={}\n", k, v.is_string() ? v.get<std::string>() : dump_json(v));
  }
  console.out(out);
  return exit_ok;
}

int remove(const Command& cmd, const ApiClient& api, const Console& console) {
  auto answer = api.call(cmd.request);
  if (!answer) return report_failure(console, answer.error(), cmd.socket, false);
  if (!cmd.quiet) console.out(fmt::format("Removed template: {}\n", cmd.subject));
  return exit_ok;
}

}  // namespace

int run_template_command(const Command& cmd, const ApiClient& api, const Console& console) {
  if (cmd.id == CommandId::template_build)
    return cmd.request.target == "/v1/templates" ? build_from_file(cmd, api, console) : build(cmd, api, console);
  if (cmd.id == CommandId::template_show) return show(cmd, api, console);
  if (cmd.id == CommandId::template_rm) return remove(cmd, api, console);
  return list(cmd, api, console);
}

}  // namespace nexus::cli
