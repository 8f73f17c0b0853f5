// SPDX-License-Identifier: Apache-2.0
// Output: where text goes (stdout/stderr, captured in tests), terminal width and colour,
// tables sized to the terminal, relative times, --json printing.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.hpp"

namespace nexus::cli {

/// The process's output. Writes are unbuffered: exec streams through here.
struct Console {
  std::function<void(std::string_view)> write_out;
  std::function<void(std::string_view)> write_err;
  bool out_is_tty = false;
  bool err_is_tty = false;
  bool no_color = false;  ///< $NO_COLOR is set
  int width = 0;          ///< terminal columns for tables; 0 = unlimited
  std::function<int64_t()> now_ms;  ///< the clock for relative times

  void out(std::string_view text) const { write_out(text); }
  void err(std::string_view text) const { write_err(text); }
  bool color_out() const { return out_is_tty && !no_color; }
  bool color_err() const { return err_is_tty && !no_color; }
  int64_t now() const;
};

/// The real stdout/stderr (unbuffered write(2)); width and colour from the terminal and the
/// environment.
Console system_console();

enum class Align { left, right };

struct Column {
  std::string title;
  Align align = Align::left;
  bool truncatable = true;  ///< may be cut to fit the width (IDs are not)
};

/// A cell's text and an optional SGR colour ("32" green), applied after padding.
struct Cell {
  std::string text;
  std::string color = {};
};

/// Lay out a table: columns separated by three spaces, no trailing spaces, titles on the
/// first line. With `width` > 0, the widest truncatable columns are shortened (ending in
/// "…") until the lines fit. Colour codes are emitted only when `color` is true.
std::string format_table(const std::vector<Column>& columns,
                         const std::vector<std::vector<Cell>>& rows, int width, bool color);

/// Display width of UTF-8 text (code points; good enough for this CLI's output).
size_t display_width(std::string_view text);
/// `text` cut to at most `width` code points, the last one "…" when it was cut.
std::string fit_width(const std::string& text, size_t width);

/// parse_rfc3339_ms() is in common/strings.hpp.

/// "just now", "45s ago", "2m ago", "3h ago", "4d ago", "in 28m".
std::string format_relative(int64_t when_ms, int64_t now_ms);
/// format_relative for an RFC 3339 string; "-" when missing or unparsable.
std::string relative_time(const Json& value, int64_t now_ms);

/// "372.0 MB" style (decimal units, as docker does); "-" for missing.
std::string format_size(const Json& bytes);
/// "1h 2m 3s" from seconds.
std::string format_duration(long long seconds);

/// `obj[key]` when it is an array, else an empty array (API answers are untrusted input).
Json array_member(const Json& obj, const char* key);

/// Pretty JSON for --json output, with a trailing newline.
std::string json_text(const Json& value);
/// One-line JSON with a trailing newline (for JSON-lines streams).
std::string json_line(const Json& value);

/// The SGR colour for a sandbox or template status ("active" green, ...).
std::string status_color(std::string_view status);
/// Wrap `text` in an SGR colour when `enabled`.
std::string colorize(std::string_view text, std::string_view sgr, bool enabled);

/// A field of an object as text for humans: strings as is, numbers printed, "-" if missing.
std::string field_text(const Json& obj, const char* key);

}  // namespace nexus::cli
