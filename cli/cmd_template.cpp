// SPDX-License-Identifier: Apache-2.0
// `nexus template ...`: list, build (with a one-line progress display on a terminal).
#include <deque>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"

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

}  // namespace

int run_template_command(const Command& cmd, const ApiClient& api, const Console& console) {
  if (cmd.id == CommandId::template_build) return build(cmd, api, console);
  return list(cmd, api, console);
}

}  // namespace nexus::cli
