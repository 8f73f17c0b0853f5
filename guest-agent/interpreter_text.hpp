// SPDX-License-Identifier: Apache-2.0
// Byte-stream text helpers for the code interpreter: bounded line splitting, UTF-8 boundary
// carry, and the result-text quote stripping of the E2B server.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace nexus::agent {

/// Splits a byte stream into '\n'-terminated lines. A line longer than `max_line` bytes is
/// dropped whole (the callback gets `oversized` = true once for it, with empty text).
class LineSplitter {
 public:
  explicit LineSplitter(size_t max_line) : max_line_(max_line) {}
  void feed(std::string_view data,
            const std::function<void(std::string_view line, bool oversized)>& on_line);
  size_t buffered() const { return buf_.size(); }

 private:
  size_t max_line_;
  std::string buf_;
  bool discarding_ = false;
};

/// Cuts a byte stream at UTF-8 character boundaries, so a multi-byte character split across
/// two reads is not turned into two replacement characters.
class Utf8Carry {
 public:
  /// The complete part of carry + `data`; an unfinished trailing sequence is kept back.
  std::string take(std::string_view data);
  /// Whatever is still held back (an incomplete sequence at the end of the stream).
  std::string flush();

 private:
  std::string carry_;
};

/// The E2B server's text/plain rule: strip one pair of surrounding single quotes ('abc' -> abc).
std::string strip_result_quotes(std::string text);

}  // namespace nexus::agent
