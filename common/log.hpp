// SPDX-License-Identifier: Apache-2.0
// Logging: levels defined by meaning, a category per module, one sink chosen at start-up.
//
// Quote user-controlled strings in 'single ticks'. Never log secrets (API keys, tokens).
// Thread-safe: a line is written with a single write(2).
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>

namespace nexus::log {

enum class Level { debug = 0, info, warning, error };

/// Parse "debug", "info", "warning", "error"; returns false on an unknown name.
bool parse_level(std::string_view name, Level& out);
void set_level(Level level);
Level level();
/// Log to this file descriptor (default 2). Lines carry an ISO time and the pid when
/// `with_time` is true.
void set_sink(int fd, bool with_time);

void write(Level level, std::string_view category, std::string_view message);

template <class... Args>
void debug(std::string_view cat, fmt::format_string<Args...> f, Args&&... a) {
  if (level() <= Level::debug) write(Level::debug, cat, fmt::format(f, std::forward<Args>(a)...));
}
template <class... Args>
void info(std::string_view cat, fmt::format_string<Args...> f, Args&&... a) {
  if (level() <= Level::info) write(Level::info, cat, fmt::format(f, std::forward<Args>(a)...));
}
template <class... Args>
void warning(std::string_view cat, fmt::format_string<Args...> f, Args&&... a) {
  if (level() <= Level::warning)
    write(Level::warning, cat, fmt::format(f, std::forward<Args>(a)...));
}
template <class... Args>
void error(std::string_view cat, fmt::format_string<Args...> f, Args&&... a) {
  write(Level::error, cat, fmt::format(f, std::forward<Args>(a)...));
}

}  // namespace nexus::log
