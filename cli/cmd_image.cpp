// SPDX-License-Identifier: Apache-2.0
// `nexus image ...`: pull (a bar per layer on a terminal), ls, inspect, rm.
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"
#include "cli/progress_bars.hpp"

namespace nexus::cli {

namespace {

constexpr int64_t kRedrawMs = 100;

std::string text_of(const Json& obj, const char* key) {
  if (!obj.is_object()) return {};
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string joined(const Json& arr, const char* sep) {
  std::string out;
  if (!arr.is_array()) return out;
  for (const Json& v : arr) {
    if (!v.is_string()) continue;
    if (!out.empty()) out += sep;
    out += v.get<std::string>();
  }
  return out;
}

/// Draws the bars in place on a terminal: moves the cursor up over the last drawing.
class LiveBars {
 public:
  explicit LiveBars(const Console& console) : console_(console) {}
  void draw(const PullProgress& p, bool force) {
    int64_t now = console_.now();
    if (!force && now - last_ms_ < kRedrawMs) return;
    last_ms_ = now;
    std::string text = lines_ ? fmt::format("\x1b[{}A", lines_) : std::string();
    auto lines = p.render(console_.width, now);
    for (const auto& l : lines) text += "\r\x1b[K" + l + "\n";
    lines_ = lines.size();
    console_.out(text);
  }

 private:
  const Console& console_;
  size_t lines_ = 0;
  int64_t last_ms_ = 0;
};

int pull(const Command& cmd, const ApiClient& api, const Console& console) {
  PullProgress progress;
  LiveBars bars(console);
  bool live = console.out_is_tty && !cmd.json && !cmd.quiet;
  bool plain = !console.out_is_tty && !cmd.json && !cmd.quiet;
  std::optional<Json> image, error;
  auto streamed = api.stream(cmd.request, [&](const Json& event) {
    if (cmd.json) console.out(json_line(event));
    std::string type = text_of(event, "type");
    auto lines = progress.update(event, console.now());
    if (type == "done") image = event.value("image", Json::object());
    else if (type == "error") error = event;
    else if (type == "attached" && plain) console.out("attached to a pull already in progress\n");
    if (plain)
      for (const auto& l : lines) console.out(l + "\n");
    if (live) {
      if (type == "resolved")
        for (const auto& l : lines) console.out(l + "\n");
      else
        bars.draw(progress, type == "done" || type == "error");
    }
  });
  if (live && !image && !error && !progress.layers().empty()) bars.draw(progress, true);  // cut short: last state
  if (!streamed) return report_failure(console, streamed.error(), cmd.socket, false);
  if (error) {
    bool not_found = text_of(*error, "code") == "not_found";
    if (not_found)  // registries say "manifest unknown" and the like: say it plainly first
      console.err(fmt::format("nexus: {}: not found ({})\n", cmd.subject, text_of(*error, "message")));
    else
      console.err(fmt::format("nexus: {}\n", text_of(*error, "message")));
    return not_found ? exit_not_found : exit_failed;
  }
  if (!image) {
    console.err("nexus: the pull stream ended without a result\n");
    return exit_failed;
  }
  if (cmd.quiet) console.out(text_of(*image, "reference") + "\n");
  else if (!cmd.json)
    console.out(fmt::format("Pulled {} ({}, {})\n", text_of(*image, "reference"), text_of(*image, "manifest_digest"),
                            format_size(image->value("size", Json()))));
  return exit_ok;
}

int list(const Command& cmd, const ApiClient& api, const Console& console) {
  auto answer = api.call(cmd.request);
  if (!answer) return report_failure(console, answer.error(), cmd.socket, false);
  Json images = array_member(*answer, "images");
  if (cmd.json) {
    console.out(json_text(images));
    return exit_ok;
  }
  if (cmd.quiet) {
    for (const Json& i : images) console.out(text_of(i, "reference") + "\n");
    return exit_ok;
  }
  int64_t now = console.now();
  std::vector<Column> columns = {{"REFERENCE"}, {"DIGEST", Align::left, false}, {"SIZE", Align::right, false},
                                 {"PULLED"}};
  std::vector<std::vector<Cell>> rows;
  for (const Json& i : images)
    rows.push_back({{text_of(i, "reference")},
                    {short_digest(text_of(i, "manifest_digest"))},
                    {format_size(i.value("size", Json()))},
                    {relative_time(i.value("pulled_at", Json()), now)}});
  console.out(format_table(columns, rows, console.width, console.color_out()));
  return exit_ok;
}

int inspect(const Command& cmd, const ApiClient& api, const Console& console) {
  auto answer = api.call(cmd.request);
  if (!answer) return report_failure(console, answer.error(), cmd.socket, false);
  const Json& i = *answer;
  if (cmd.json) {
    console.out(json_text(i));
    return exit_ok;
  }
  Json config = i.value("config", Json::object());
  if (!config.is_object()) config = Json::object();
  std::string platform = text_of(config, "os") + "/" + text_of(config, "architecture");
  if (!text_of(config, "variant").empty()) platform += "/" + text_of(config, "variant");
  auto dash = [](std::string s) { return s.empty() ? std::string("-") : s; };
  std::string out;
  out += fmt::format("Reference:   {}\n", text_of(i, "reference"));
  if (std::string refs = joined(i.value("references", Json()), ", "); refs.find(',') != std::string::npos)
    out += fmt::format("Also named:  {}\n", refs);
  out += fmt::format("Manifest:    {}\n", text_of(i, "manifest_digest"));
  if (!text_of(i, "index_digest").empty()) out += fmt::format("Index:       {}\n", text_of(i, "index_digest"));
  out += fmt::format("Config:      {}\n", text_of(i, "config_digest"));
  out += fmt::format("Platform:    {}\n", platform);
  out += fmt::format("Size:        {}\n", format_size(i.value("size", Json())));
  out += fmt::format("Pulled:      {}\n", relative_time(i.value("pulled_at", Json()), console.now()));
  out += fmt::format("Rootfs:      {}\n", text_of(i, "rootfs"));
  out += fmt::format("Entrypoint:  {}\n", dash(joined(config.value("entrypoint", Json()), " ")));
  out += fmt::format("Cmd:         {}\n", dash(joined(config.value("cmd", Json()), " ")));
  out += fmt::format("WorkingDir:  {}\n", dash(text_of(config, "working_dir")));
  out += fmt::format("User:        {}\n", dash(text_of(config, "user")));
  out += "Env:\n";
  for (const Json& e : array_member(config, "env"))
    if (e.is_string()) out += "  " + e.get<std::string>() + "\n";
  out += "Layers:\n";
  std::vector<Column> columns = {{"  DIGEST", Align::left, false}, {"SIZE", Align::right, false}, {"TYPE"}};
  std::vector<std::vector<Cell>> rows;
  for (const Json& l : array_member(i, "layers"))
    rows.push_back({{"  " + text_of(l, "digest")}, {format_size(l.value("size", Json()))}, {text_of(l, "media_type")}});
  out += format_table(columns, rows, console.width, false);
  console.out(out);
  return exit_ok;
}

int remove(const Command& cmd, const ApiClient& api, const Console& console) {
  int rc = exit_ok;
  auto answer = call_for_text(cmd, api, console, &rc);
  if (!answer) return rc;
  for (const Json& r : array_member(*answer, "removed"))
    if (r.is_string()) console.out(cmd.quiet ? r.get<std::string>() + "\n" : "Removed image: " + r.get<std::string>() + "\n");
  Json gc = answer->value("gc", Json::object());
  if (!cmd.quiet && gc.is_object() && gc.value("blobs_removed", 0) > 0)
    console.out(fmt::format("Freed {} ({} blobs)\n", format_size(gc.value("bytes_freed", Json())),
                            gc.value("blobs_removed", 0)));
  return exit_ok;
}

}  // namespace

int run_image_command(const Command& cmd, const ApiClient& api, const Console& console) {
  switch (cmd.id) {
    case CommandId::image_pull: return pull(cmd, api, console);
    case CommandId::image_inspect: return inspect(cmd, api, console);
    case CommandId::image_rm: return remove(cmd, api, console);
    default: return list(cmd, api, console);
  }
}

}  // namespace nexus::cli
