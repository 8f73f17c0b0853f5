// SPDX-License-Identifier: Apache-2.0
// Logging implementation: a single-write line sink.
#include "common/log.hpp"

#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <ctime>

namespace nexus::log {
namespace {

std::atomic<Level> g_level{Level::info};
std::atomic<int> g_fd{2};
std::atomic<bool> g_with_time{false};

const char* level_name(Level l) {
  switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warning: return "warning";
    case Level::error: return "error";
  }
  return "?";
}

}  // namespace

bool parse_level(std::string_view name, Level& out) {
  if (name == "debug") out = Level::debug;
  else if (name == "info") out = Level::info;
  else if (name == "warning" || name == "warn") out = Level::warning;
  else if (name == "error") out = Level::error;
  else return false;
  return true;
}

void set_level(Level l) { g_level = l; }
Level level() { return g_level; }
void set_sink(int fd, bool with_time) {
  g_fd = fd;
  g_with_time = with_time;
}

void write(Level l, std::string_view category, std::string_view message) {
  std::string line;
  line.reserve(message.size() + 64);
  if (g_with_time) {
    timeval tv{};
    gettimeofday(&tv, nullptr);
    tm t{};
    gmtime_r(&tv.tv_sec, &t);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &t);
    line += fmt::format("{}.{:03d}Z [{}] ", buf, static_cast<int>(tv.tv_usec / 1000), getpid());
  }
  line += level_name(l);
  line += ' ';
  line += category;
  line += ": ";
  line += message;
  line += '\n';
  (void)!::write(g_fd, line.data(), line.size());  // nothing useful to do on a log error
}

}  // namespace nexus::log
