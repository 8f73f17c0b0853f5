// SPDX-License-Identifier: Apache-2.0
// BuildView: the state of a template build, fed with its events (docs/api.md, "Build
// events"), drawn as a full screen (header, step checklist, layer bars with the download
// speed, a log tail) or told as plain lines. Pure: the caller supplies the clock, the
// terminal size and does the writing (cli/build_watch.cpp).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "cli/progress_bars.hpp"
#include "common/json.hpp"

namespace nexus::cli {

class BuildView {
 public:
  struct Step {
    std::string text;
    std::string state = "pending";  ///< pending, running, done, failed
    int64_t started_ms = 0;         ///< our clock, when it began running
    int64_t elapsed_ms = -1;        ///< the daemon's figure once it ended
  };

  static constexpr size_t kLogLines = 200;  ///< log lines kept for the tail

  /// Take one event at `now_ms`; returns the plain lines it is worth (for a non-terminal).
  std::vector<std::string> update(const Json& event, int64_t now_ms);
  /// The whole screen: exactly `rows` lines (padded with empty ones), each at most `cols`
  /// columns. Small terminals get the header and steps first, then bars, then the log.
  std::vector<std::string> render(int cols, int rows, int64_t now_ms) const;

  bool finished() const { return outcome_.has_value(); }
  bool succeeded() const { return outcome_ && *outcome_ == "done"; }
  const std::string& error_message() const { return error_; }
  const std::string& template_name() const { return template_; }
  const std::vector<Step>& steps() const { return steps_; }

 private:
  Step* step(const Json& event);
  std::string header(int64_t now_ms) const;
  std::string step_line(size_t i, int64_t now_ms) const;
  std::string speed_line(int64_t now_ms) const;

  std::string build_id_, template_;
  std::vector<Step> steps_;
  PullProgress pull_;
  std::deque<std::string> log_;
  std::optional<std::string> outcome_;  ///< "done" or "error" once the build ended
  std::string error_;
  int64_t first_ms_ = -1, end_ms_ = -1;
};

/// Cut `text` to `cols` display columns (UTF-8 aware, control characters dropped); cols <= 0
/// leaves it whole.
std::string fit_columns(const std::string& text, int cols);

}  // namespace nexus::cli
