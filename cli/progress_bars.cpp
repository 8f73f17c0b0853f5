// SPDX-License-Identifier: Apache-2.0
// Pull progress: per-layer state and its text.
#include "cli/progress_bars.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "cli/output.hpp"

namespace nexus::cli {
namespace {

uint64_t u64_field(const Json& ev, const char* key) {
  auto it = ev.find(key);
  if (it == ev.end() || !it->is_number_integer()) return 0;
  return it->is_number_unsigned() ? it->get<uint64_t>() : static_cast<uint64_t>(std::max<int64_t>(0, it->get<int64_t>()));
}

std::string str_field(const Json& ev, const char* key) {
  auto it = ev.find(key);
  return it != ev.end() && it->is_string() ? it->get<std::string>() : std::string();
}

const char* state_label(std::string_view s) {
  if (s == "downloading") return "Downloading";
  if (s == "downloaded") return "Downloaded";
  if (s == "cached") return "Already exists";
  if (s == "unpacking") return "Unpacking";
  if (s == "unpacked") return "Pull complete";
  return "Waiting";
}

}  // namespace

std::string format_bar(uint64_t done, uint64_t total, size_t cells) {
  if (total == 0 || cells == 0) return {};
  size_t filled = static_cast<size_t>(static_cast<double>(std::min(done, total)) / static_cast<double>(total) *
                                      static_cast<double>(cells));
  std::string bar = "[";
  for (size_t i = 0; i < cells; ++i) bar += i < filled ? '=' : i == filled ? '>' : ' ';
  return bar + "]";
}

std::string format_rate(double bps) {
  if (!std::isfinite(bps) || bps < 0) return "-";
  return format_size(Json(static_cast<uint64_t>(bps))) + "/s";
}

std::string format_eta(double s) {
  if (!std::isfinite(s) || s < 0) return "-";
  auto secs = static_cast<long long>(std::ceil(s));
  if (secs < 60) return fmt::format("{}s", secs);
  if (secs < 3600) return fmt::format("{}m{:02}s", secs / 60, secs % 60);
  return fmt::format("{}h{:02}m", secs / 3600, secs % 3600 / 60);
}

std::string short_digest(std::string_view digest) {
  if (digest.rfind("sha256:", 0) == 0) digest.remove_prefix(7);
  return std::string(digest.substr(0, 12));
}

PullProgress::Layer& PullProgress::layer(const std::string& digest) {
  for (auto& l : layers_)
    if (l.digest == digest) return l;
  layers_.push_back(Layer{digest});
  return layers_.back();
}

std::vector<std::string> PullProgress::update(const Json& ev, int64_t now) {
  std::vector<std::string> lines;
  if (!ev.is_object()) return lines;
  std::string type = str_field(ev, "type");
  if (type == "resolved") {
    auto layers = array_member(ev, "layers");
    for (const Json& l : layers)
      if (l.is_object()) layer(str_field(l, "digest")).total = u64_field(l, "size");
    lines.push_back(fmt::format("{}: {} layer{} ({}), manifest {}", str_field(ev, "reference"), layers.size(),
                                layers.size() == 1 ? "" : "s", format_size(ev.value("size", Json())),
                                str_field(ev, "manifest")));
  } else if (type == "progress" && str_field(ev, "kind") == "layer") {
    Layer& l = layer(str_field(ev, "digest"));
    std::string state = str_field(ev, "state");
    l.done = u64_field(ev, "done");
    if (uint64_t t = u64_field(ev, "total")) l.total = t;
    l.updated_ms = now;
    std::string before = l.state;
    if (state == "started" || (state == "running" && l.state == "waiting")) {
      l.state = "downloading";
      l.since_ms = now;
      l.since_bytes = l.done;
    } else if (state == "done") {
      l.state = "downloaded";
    } else if (state == "cached") {
      l.state = "cached";
    }
    if (l.state != before)
      lines.push_back(fmt::format("{}: {} {}", short_digest(l.digest), state_label(l.state), format_size(Json(l.total))));
  } else if (type == "unpack") {
    Layer& l = layer(str_field(ev, "digest"));
    uint64_t done = u64_field(ev, "done"), total = u64_field(ev, "total");
    std::string before = l.state;
    if (l.state != "unpacking" && l.state != "unpacked") {
      l.state = "unpacking";
      l.since_ms = now;
      l.since_bytes = 0;
    }
    l.done = done;
    if (total) l.total = total;
    if (total && done >= total) l.state = "unpacked";
    l.updated_ms = now;
    if (l.state != before) lines.push_back(fmt::format("{}: {}", short_digest(l.digest), state_label(l.state)));
  }
  return lines;
}

std::vector<std::string> PullProgress::render(int width, int64_t now) const {
  std::vector<std::string> out;
  for (const auto& l : layers_) {
    std::string line = fmt::format("{}  {:<14}", short_digest(l.digest), state_label(l.state));
    bool moving = l.state == "downloading" || l.state == "unpacking";
    if (moving) {
      line += " " + format_bar(l.done, l.total, 24);
      line += fmt::format(" {} / {}", format_size(Json(l.done)), format_size(Json(l.total)));
      double secs = static_cast<double>(now - l.since_ms) / 1000.0;
      if (secs > 0.2 && l.done > l.since_bytes) {
        double rate = static_cast<double>(l.done - l.since_bytes) / secs;
        line += "  " + format_rate(rate);
        if (l.total > l.done) line += "  ETA " + format_eta(static_cast<double>(l.total - l.done) / rate);
      }
    } else if (l.total) {
      line += " " + format_size(Json(l.total));
    }
    out.push_back(width > 0 ? fit_width(line, static_cast<size_t>(width) - 1) : line);
  }
  return out;
}

}  // namespace nexus::cli
