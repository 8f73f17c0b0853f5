// SPDX-License-Identifier: Apache-2.0
// Console, tables, times and sizes for human output; JSON for scripts.
#include "cli/output.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include <fmt/format.h>

#include "common/strings.hpp"

namespace nexus::cli {

int64_t Console::now() const { return now_ms ? now_ms() : unix_now_ms(); }

namespace {

void write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // EPIPE and friends: the reader is gone; nothing useful to do
    }
    text.remove_prefix(static_cast<size_t>(n));
  }
}

int terminal_width(bool is_tty) {
  if (is_tty) {
    winsize ws{};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  }
  if (const char* cols = std::getenv("COLUMNS")) {
    int n = std::atoi(cols);
    if (n > 0) return n;
  }
  return is_tty ? 80 : 0;  // piped output is not cut
}

/// Byte length of the first `n` code points of `text`.
size_t prefix_bytes(std::string_view text, size_t n) {
  size_t i = 0;
  while (i < text.size() && n > 0) {
    ++i;
    while (i < text.size() && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) ++i;
    --n;
  }
  return i;
}




}  // namespace

Console system_console() {
  Console c;
  c.write_out = [](std::string_view t) { write_all(STDOUT_FILENO, t); };
  c.write_err = [](std::string_view t) { write_all(STDERR_FILENO, t); };
  c.out_is_tty = ::isatty(STDOUT_FILENO) == 1;
  c.err_is_tty = ::isatty(STDERR_FILENO) == 1;
  const char* no_color = std::getenv("NO_COLOR");
  c.no_color = no_color != nullptr && *no_color != '\0';
  c.width = terminal_width(c.out_is_tty);
  c.now_ms = [] { return unix_now_ms(); };
  return c;
}

std::string fit_width(const std::string& text, size_t width) {
  if (display_width(text) <= width) return text;
  if (width == 0) return {};
  return text.substr(0, prefix_bytes(text, width - 1)) + "…";
}

size_t display_width(std::string_view text) {
  size_t n = 0;
  for (unsigned char c : text)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::string format_table(const std::vector<Column>& columns,
                         const std::vector<std::vector<Cell>>& rows, int width, bool color) {
  static constexpr size_t gap = 3;
  const size_t n = columns.size();
  std::vector<size_t> widths(n, 0);
  for (size_t i = 0; i < n; ++i) widths[i] = display_width(columns[i].title);
  for (const auto& row : rows)
    for (size_t i = 0; i < n && i < row.size(); ++i)
      widths[i] = std::max(widths[i], display_width(row[i].text));

  if (width > 0 && n > 0) {
    size_t total = gap * (n - 1);
    for (size_t w : widths) total += w;
    while (total > static_cast<size_t>(width)) {
      // Shorten the widest column that may still shrink (not below its title, nor 4).
      size_t best = n;
      for (size_t i = 0; i < n; ++i) {
        size_t floor = std::max<size_t>(4, display_width(columns[i].title));
        if (!columns[i].truncatable || widths[i] <= floor) continue;
        if (best == n || widths[i] > widths[best]) best = i;
      }
      if (best == n) break;  // nothing left to shrink: let the lines wrap
      --widths[best];
      --total;
    }
  }

  auto line = [&](auto cell_at) {
    std::string out;
    // Drop trailing padding: find the last column, then pad all before it.
    for (size_t i = 0; i < n; ++i) {
      Cell cell = cell_at(i);
      std::string text = fit_width(cell.text, widths[i]);
      size_t pad = widths[i] - display_width(text);
      bool last = i + 1 == n;
      std::string shown = colorize(text, cell.color, color);
      if (columns[i].align == Align::right) {
        out.append(pad, ' ');
        out += shown;
      } else {
        out += shown;
        if (!last) out.append(pad, ' ');
      }
      if (!last) out.append(gap, ' ');
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += '\n';
    return out;
  };

  std::string out = line([&](size_t i) { return Cell{columns[i].title, color ? "1" : ""}; });
  for (const auto& row : rows)
    out += line([&](size_t i) { return i < row.size() ? row[i] : Cell{}; });
  return out;
}


std::string format_relative(int64_t when_ms, int64_t now_ms) {
  int64_t delta = when_ms - now_ms;
  bool future = delta > 0;
  int64_t s = (future ? delta : -delta) / 1000;
  if (s < 1) return "just now";
  std::string span;
  if (s < 60)
    span = fmt::format("{}s", s);
  else if (s < 3600)
    span = fmt::format("{}m", s / 60);
  else if (s < 86400)
    span = fmt::format("{}h", s / 3600);
  else
    span = fmt::format("{}d", s / 86400);
  return future ? "in " + span : span + " ago";
}

std::string relative_time(const Json& value, int64_t now_ms) {
  if (!value.is_string()) return "-";
  auto when = parse_rfc3339_ms(value.get<std::string>());
  return when ? format_relative(*when, now_ms) : "-";
}

std::string format_size(const Json& bytes) {
  if (!bytes.is_number() || bytes.get<double>() < 0) return "-";
  double v = bytes.get<double>();
  static constexpr const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  size_t u = 0;
  while (v >= 1000 && u + 1 < std::size(units)) {
    v /= 1000;
    ++u;
  }
  if (u == 0) return fmt::format("{} B", static_cast<long long>(v));
  return v < 10 ? fmt::format("{:.1f} {}", v, units[u]) : fmt::format("{:.0f} {}", v, units[u]);
}

std::string format_duration(long long seconds) {
  if (seconds < 0) seconds = 0;
  long long d = seconds / 86400, h = seconds / 3600 % 24, m = seconds / 60 % 60, s = seconds % 60;
  if (d > 0) return fmt::format("{}d {}h {}m", d, h, m);
  if (h > 0) return fmt::format("{}h {}m {}s", h, m, s);
  if (m > 0) return fmt::format("{}m {}s", m, s);
  return fmt::format("{}s", s);
}

Json array_member(const Json& obj, const char* key) {
  if (obj.is_object())
    if (auto it = obj.find(key); it != obj.end() && it->is_array()) return *it;
  return Json::array();
}

std::string json_text(const Json& value) {
  return dump_json(value, 2) + "\n";
}

std::string json_line(const Json& value) {
  return dump_json(value) + "\n";
}

std::string status_color(std::string_view status) {
  if (status == "active" || status == "running" || status == "ready") return "32";
  if (status == "paused" || status == "creating" || status == "building") return "33";
  if (status == "failed") return "31";
  if (status == "stopped" || status == "not_built") return "2";
  return {};
}

std::string colorize(std::string_view text, std::string_view sgr, bool enabled) {
  if (!enabled || sgr.empty() || text.empty()) return std::string(text);
  return fmt::format("\x1b[{}m{}\x1b[0m", sgr, text);
}

std::string field_text(const Json& obj, const char* key) {
  if (!obj.is_object()) return "-";
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return "-";
  if (it->is_string()) {
    std::string s = it->get<std::string>();
    return s.empty() ? "-" : s;
  }
  return it->dump();
}

}  // namespace nexus::cli
