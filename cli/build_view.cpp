// SPDX-License-Identifier: Apache-2.0
// The build view: step checklist, layer bars, log tail.
#include "cli/build_view.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "cli/output.hpp"

namespace nexus::cli {

namespace {

std::string str(const Json& ev, const char* key) {
  auto it = ev.find(key);
  return it != ev.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int64_t num(const Json& ev, const char* key, int64_t fallback) {
  auto it = ev.find(key);
  return it != ev.end() && it->is_number_integer() ? it->get<int64_t>() : fallback;
}

std::string duration(int64_t ms) {
  if (ms < 0) return {};
  if (ms < 10'000) return fmt::format("{:.1f}s", static_cast<double>(ms) / 1000);
  return format_eta(static_cast<double>(ms) / 1000);
}

const char* marker(const std::string& state) {
  if (state == "done") return "[x]";
  if (state == "running") return "[>]";
  if (state == "failed") return "[!]";
  return "[ ]";
}

}  // namespace

std::string fit_columns(const std::string& text, int cols) {
  std::string out;
  int width = 0;
  for (size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
    if (i + len > text.size()) len = 1;
    if (c < 0x20 || c == 0x7F) {  // a build's output may carry escapes: never pass them on
      out += c == '\t' ? ' ' : '?';
      ++i;
      ++width;
    } else {
      if (cols > 0 && width + 1 > cols) break;
      out.append(text, i, len);
      i += len;
      ++width;
    }
    if (cols > 0 && width >= cols) break;
  }
  return out;
}

BuildView::Step* BuildView::step(const Json& ev) {
  int64_t index = num(ev, "index", 0);
  if (index < 1 || index > 10'000) return nullptr;  // the daemon's word, but bounded anyway
  if (static_cast<size_t>(index) > steps_.size()) steps_.resize(static_cast<size_t>(index));
  return &steps_[static_cast<size_t>(index - 1)];
}

std::vector<std::string> BuildView::update(const Json& ev, int64_t now) {
  std::vector<std::string> lines;
  if (!ev.is_object()) return lines;
  if (first_ms_ < 0) first_ms_ = now;
  std::string type = str(ev, "type");
  if (type == "build") {
    build_id_ = str(ev, "build_id");
    template_ = str(ev, "template");
    auto it = ev.find("steps");
    if (it != ev.end() && it->is_array())
      for (const Json& s : *it)
        if (s.is_object())
          if (Step* st = step(s)) st->text = str(s, "text");
    lines.push_back(fmt::format("Building template {} ({}, {} steps)", template_, build_id_, steps_.size()));
  } else if (type == "step") {
    Step* st = step(ev);
    if (!st) return lines;
    std::string before = st->state;
    st->state = str(ev, "state");
    if (st->state == "running") st->started_ms = now;
    st->elapsed_ms = num(ev, "elapsed_ms", -1);
    if (st->state != before) {
      size_t i = static_cast<size_t>(st - steps_.data());
      lines.push_back(fmt::format("[{}/{}] {} {}", i + 1, steps_.size(), st->state, st->text));
    }
  } else if (type == "log") {
    std::string line = str(ev, "line");
    log_.push_back(line);
    if (log_.size() > kLogLines) log_.pop_front();
    lines.push_back("    " + line);
  } else if (type == "resolved" || type == "progress" || type == "unpack") {
    for (auto& l : pull_.update(ev, now)) lines.push_back("    " + l);
  } else if (type == "done") {
    outcome_ = "done";
    end_ms_ = now;
    lines.push_back(fmt::format("Built template {} in {}", template_, duration(now - first_ms_)));
  } else if (type == "error") {
    outcome_ = "error";
    end_ms_ = now;
    error_ = str(ev, "message");
    lines.push_back(fmt::format("Build failed: {}", error_));
  }
  return lines;
}

std::string BuildView::header(int64_t now) const {
  int64_t end = end_ms_ >= 0 ? end_ms_ : now;
  size_t done = static_cast<size_t>(std::count_if(steps_.begin(), steps_.end(),
                                                  [](const Step& s) { return s.state == "done"; }));
  std::string state = !outcome_ ? "building" : succeeded() ? "built" : "FAILED";
  // The state first: a narrow terminal cuts the end of the line.
  return fmt::format("nexus: template {}  [{}]  {}/{} steps  {}  {}", template_.empty() ? "?" : template_, state,
                     done, steps_.size(), duration(first_ms_ < 0 ? 0 : end - first_ms_), build_id_);
}

std::string BuildView::step_line(size_t i, int64_t now) const {
  const Step& s = steps_[i];
  std::string time;
  if (s.state == "running") time = duration(now - s.started_ms);
  else if (s.elapsed_ms >= 0) time = duration(s.elapsed_ms);
  return fmt::format(" {} {:>2}. {}{}", marker(s.state), i + 1, s.text, time.empty() ? "" : "  (" + time + ")");
}

std::string BuildView::speed_line(int64_t now) const {
  uint64_t done = 0, total = 0;
  double rate = 0;
  for (const auto& l : pull_.layers()) {
    done += l.done;
    total += l.total;
    if (l.state == "downloading" && now > l.since_ms && l.done > l.since_bytes)
      rate += static_cast<double>(l.done - l.since_bytes) * 1000.0 / static_cast<double>(now - l.since_ms);
  }
  return fmt::format(" layers: {} of {}  {}", format_size(Json(done)), format_size(Json(total)),
                     rate > 0 ? format_rate(rate) : std::string("-"));
}

std::vector<std::string> BuildView::render(int cols, int rows, int64_t now) const {
  std::vector<std::string> screen;
  auto add = [&](const std::string& line) {
    if (static_cast<int>(screen.size()) < rows) screen.push_back(fit_columns(line, cols));
  };
  add(header(now));
  add("");
  for (size_t i = 0; i < steps_.size(); ++i) add(step_line(i, now));
  if (!pull_.layers().empty()) {
    add("");
    add(speed_line(now));
    for (const auto& l : pull_.render(cols > 2 ? cols - 2 : cols, now)) add("  " + l);
  }
  if (outcome_ == "error") {
    add("");
    add(" error: " + error_);
  }
  int left = rows - static_cast<int>(screen.size()) - 2;  // a blank line and the rule first
  if (left > 0 && !log_.empty()) {
    add("");
    int width = cols > 0 ? cols : 40;
    add("- log " + std::string(static_cast<size_t>(std::max(width - 6, 0)), '-'));
    size_t n = std::min(log_.size(), static_cast<size_t>(left));
    for (size_t i = log_.size() - n; i < log_.size(); ++i) add(" " + log_[i]);
  }
  while (static_cast<int>(screen.size()) < rows) screen.emplace_back();
  return screen;
}

}  // namespace nexus::cli
