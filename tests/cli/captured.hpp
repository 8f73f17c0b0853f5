// SPDX-License-Identifier: Apache-2.0
// What the CLI tests run `nexus` with: a Console whose stdout and stderr are captured, and a
// fresh socket path for a FakeNexusd.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "cli/output.hpp"
#include "common/strings.hpp"

namespace nexus::cli::test {

struct Captured {
  std::string out, err;
  Console console;
  /// `width` columns (0: unlimited); `now_ms`, when given, is the clock relative times use.
  explicit Captured(int width = 0, std::function<int64_t()> now_ms = nullptr) {
    console.write_out = [this](std::string_view t) { out.append(t); };
    console.write_err = [this](std::string_view t) { err.append(t); };
    console.width = width;
    if (now_ms) console.now_ms = std::move(now_ms);
  }
};

/// /tmp/nexus-<tag>-<pid>-<random>.sock
inline std::string temp_socket(std::string_view tag) {
  return fmt::format("/tmp/nexus-{}-{}-{}.sock", tag, ::getpid(), random_hex(4));
}

}  // namespace nexus::cli::test
