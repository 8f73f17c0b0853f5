// SPDX-License-Identifier: Apache-2.0
// Line splitting, UTF-8 boundaries and quote stripping.
#include "guest-agent/interpreter_text.hpp"

namespace nexus::agent {

void LineSplitter::feed(std::string_view data,
                        const std::function<void(std::string_view, bool)>& on_line) {
  while (!data.empty()) {
    auto nl = data.find('\n');
    std::string_view part = data.substr(0, nl);
    if (discarding_) {
      if (nl == std::string_view::npos) return;
      discarding_ = false;
    } else if (buf_.size() + part.size() > max_line_) {
      buf_.clear();
      discarding_ = nl == std::string_view::npos;
      on_line({}, true);
    } else if (nl == std::string_view::npos) {
      buf_.append(part);
      return;
    } else if (buf_.empty()) {
      on_line(part, false);
    } else {
      buf_.append(part);
      std::string line = std::move(buf_);
      buf_.clear();
      on_line(line, false);
    }
    if (nl == std::string_view::npos) return;
    data.remove_prefix(nl + 1);
  }
}

namespace {

// Length of the UTF-8 sequence a lead byte starts; 0 for a continuation or invalid byte.
size_t sequence_length(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) return 2;
  if ((c & 0xF0) == 0xE0) return 3;
  if ((c & 0xF8) == 0xF0) return 4;
  return 0;
}

}  // namespace

std::string Utf8Carry::take(std::string_view data) {
  std::string s = std::move(carry_);
  carry_.clear();
  s.append(data);
  // Look back at most 3 bytes for the lead byte of an unfinished sequence.
  size_t n = s.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    auto c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking
    size_t len = sequence_length(c);
    if (len > back) {
      carry_ = s.substr(n - back);
      s.resize(n - back);
    }
    break;
  }
  return s;
}

std::string Utf8Carry::flush() {
  std::string s = std::move(carry_);
  carry_.clear();
  return s;
}

std::string strip_result_quotes(std::string text) {
  // Exactly the real server's rule: single quotes only ("it's" keeps its double quotes),
  // and a lone "'" becomes empty.
  if (!text.empty() && text.front() == '\'' && text.back() == '\'')
    return text.size() >= 2 ? text.substr(1, text.size() - 2) : std::string();
  return text;
}

}  // namespace nexus::agent
