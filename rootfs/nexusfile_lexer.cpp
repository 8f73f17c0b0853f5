// SPDX-License-Identifier: Apache-2.0
#include "rootfs/nexusfile_lexer.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace nexus::rootfs {

namespace {

constexpr int kMaxNesting = 32;  // ${a:-${b:-...}} depth

bool is_blank(char c) { return c == ' ' || c == '\t'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

std::string_view ltrim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  return s;
}
std::string_view rtrim(std::string_view s) {
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

tl::unexpected<Error> line_error(int line, std::string_view what, Errc code = Errc::invalid_argument) {
  return fail(code, fmt::format("line {}: {}", line, what));
}

// "# name = value" with a known directive name, or false.
bool parse_directive(std::string_view t, std::string& name, std::string& value) {
  if (t.empty() || t[0] != '#') return false;
  t = ltrim(t.substr(1));
  size_t n = 0;
  while (n < t.size() && is_name_char(t[n])) ++n;
  if (n == 0) return false;
  name = lower(t.substr(0, n));
  t = ltrim(t.substr(n));
  if (t.empty() || t[0] != '=') return false;
  value = std::string(rtrim(ltrim(t.substr(1))));
  return name == "syntax" || name == "escape" || name == "check";
}

// Word expansion: a small recursive-descent reader over one word.
class Expander {
 public:
  Expander(char escape, const EnvMap& env, size_t max_bytes) : esc_(escape), env_(env), max_(max_bytes) {}

  Result<std::string> run(std::string_view w, int depth) {
    if (depth > kMaxNesting) return fail(Errc::invalid_argument, "${...} nested too deeply");
    std::string out;
    size_t i = 0;
    while (i < w.size()) {
      char c = w[i];
      if (c == esc_) {
        if (i + 1 < w.size()) out += w[i + 1];
        i += 2;
      } else if (c == '\'') {
        size_t end = w.find('\'', i + 1);
        if (end == std::string_view::npos) return fail(Errc::invalid_argument, "unterminated single quote");
        out.append(w.substr(i + 1, end - i - 1));
        i = end + 1;
      } else if (c == '"') {
        ++i;
        bool closed = false;
        while (i < w.size()) {
          char d = w[i];
          if (d == '"') {
            closed = true;
            ++i;
            break;
          }
          if (d == esc_ && i + 1 < w.size() && (w[i + 1] == '"' || w[i + 1] == '$' || w[i + 1] == esc_)) {
            out += w[i + 1];
            i += 2;
          } else if (d == '$') {
            NEXUS_TRY(variable(w, i, out, depth));
          } else {
            out += d;
            ++i;
          }
          if (out.size() > max_) return too_long();
        }
        if (!closed) return fail(Errc::invalid_argument, "unterminated double quote");
      } else if (c == '$') {
        NEXUS_TRY(variable(w, i, out, depth));
      } else {
        out += c;
        ++i;
      }
      if (out.size() > max_) return too_long();
    }
    return out;
  }

 private:
  tl::unexpected<Error> too_long() const {
    return fail(Errc::too_large, fmt::format("a word is longer than {} bytes after variable substitution", max_));
  }

  // w[i] == '$': appends the value and advances i past the reference.
  Result<void> variable(std::string_view w, size_t& i, std::string& out, int depth) {
    size_t j = i + 1;
    if (j < w.size() && is_name_start(w[j])) {
      size_t k = j;
      while (k < w.size() && is_name_char(w[k])) ++k;
      append_value(std::string(w.substr(j, k - j)), out);
      i = k;
      return {};
    }
    if (j >= w.size() || w[j] != '{') {  // a lone '$' is literal, as in Docker
      out += '$';
      i = j;
      return {};
    }
    size_t k = j + 1;
    while (k < w.size() && is_name_char(w[k])) ++k;
    std::string name(w.substr(j + 1, k - j - 1));
    if (name.empty() || !is_name_start(name[0]))
      return fail(Errc::invalid_argument, fmt::format("bad variable reference '{}'", clip(w.substr(i))));
    if (k >= w.size()) return fail(Errc::invalid_argument, "missing '}' in ${...}");
    if (w[k] == '}') {
      append_value(name, out);
      i = k + 1;
      return {};
    }
    bool colon = w[k] == ':';
    size_t op = colon ? k + 1 : k;
    if (op >= w.size() || (w[op] != '-' && w[op] != '+'))
      return fail(Errc::invalid_argument,
                  fmt::format("unsupported substitution '{}' (use ${{NAME}}, ${{NAME:-default}} or "
                              "${{NAME:+alternative}})",
                              clip(w.substr(i))));
    // The word runs to the matching '}'.
    size_t end = op + 1;
    int nest = 0;
    for (; end < w.size(); ++end) {
      if (w[end] == esc_) {
        ++end;
        continue;
      }
      if (w[end] == '$' && end + 1 < w.size() && w[end + 1] == '{') {
        ++nest;
        ++end;
      } else if (w[end] == '}') {
        if (nest == 0) break;
        --nest;
      }
    }
    if (end >= w.size()) return fail(Errc::invalid_argument, "missing '}' in ${...}");
    auto it = env_.find(name);
    bool set = it != env_.end();
    bool use_word = w[op] == '-' ? !(set && !(colon && it->second.empty())) : (set && !(colon && it->second.empty()));
    if (use_word) {
      auto v = run(w.substr(op + 1, end - op - 1), depth + 1);
      if (!v) return fail(std::move(v.error()));
      out += *v;
    } else if (w[op] == '-') {
      out += it->second;
    }
    i = end + 1;
    return {};
  }

  void append_value(const std::string& name, std::string& out) const {
    if (auto it = env_.find(name); it != env_.end()) out += it->second;
  }

  static std::string clip(std::string_view s) {
    return std::string(s.substr(0, std::min<size_t>(s.size(), 40)));
  }

  char esc_;
  const EnvMap& env_;
  size_t max_;
};

}  // namespace

Result<LexedNexusfile> lex_nexusfile(std::string_view text, const NexusfileLimits& limits) {
  if (text.size() > limits.max_bytes)
    return fail(Errc::too_large, fmt::format("the Nexusfile is larger than {} bytes", limits.max_bytes));
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // a UTF-8 byte order mark
  if (auto nul = text.find('\0'); nul != std::string_view::npos)
    return line_error(static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(nul), '\n')) + 1,
                      "NUL byte in the file");

  LexedNexusfile out;
  bool directives_allowed = true;
  bool seen_escape = false;
  bool seen_syntax = false;
  bool continuing = false;
  std::string buf;
  int start_line = 0;
  int lineno = 0;

  auto finish = [&]() -> Result<void> {
    continuing = false;
    std::string_view s = rtrim(buf);
    size_t k = 0;
    while (k < s.size() && !is_blank(s[k])) ++k;
    LogicalLine l{start_line, std::string(s.substr(0, k)), std::string(rtrim(ltrim(s.substr(k))))};
    buf.clear();
    if (out.lines.size() >= limits.max_instructions)
      return line_error(l.line, fmt::format("more than {} instructions", limits.max_instructions), Errc::too_large);
    out.lines.push_back(std::move(l));
    return {};
  };

  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++lineno;
    if (line.size() > limits.max_line_bytes)
      return line_error(lineno, fmt::format("line longer than {} bytes", limits.max_line_bytes), Errc::too_large);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::string_view t = ltrim(line);

    if (!continuing) {
      if (directives_allowed) {
        std::string name, value;
        if (parse_directive(t, name, value)) {
          if (name == "escape") {
            if (seen_escape) return line_error(lineno, "the escape directive is given twice");
            if (value != "\\" && value != "`")
              return line_error(lineno, fmt::format("invalid escape character '{}' (use \\ or `)", value));
            out.escape = value[0];
            seen_escape = true;
          } else if (name == "syntax") {
            if (seen_syntax) return line_error(lineno, "the syntax directive is given twice");
            out.syntax = value;
            seen_syntax = true;
          }
          continue;  // `check` is accepted and ignored
        }
        directives_allowed = false;
      }
      if (t.empty() || t[0] == '#') continue;
      start_line = lineno;
      buf.assign(t);
    } else {
      if (t.empty() || t[0] == '#') continue;  // Docker drops these inside a continuation
      buf.append(line);
    }
    if (buf.size() > limits.max_instruction_bytes)
      return line_error(start_line, fmt::format("instruction longer than {} bytes", limits.max_instruction_bytes),
                        Errc::too_large);
    std::string_view r = rtrim(buf);
    if (!r.empty() && r.back() == out.escape) {
      buf.resize(r.size() - 1);
      continuing = true;
    } else {
      NEXUS_TRY(finish());
    }
  }
  if (continuing) NEXUS_TRY(finish());  // a continuation at the end of the file ends the instruction
  return out;
}

Result<std::vector<std::string>> split_raw_words(std::string_view text, char escape) {
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false;
  char quote = 0;
  int braces = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quote == 0 && braces == 0 && is_blank(c)) {
      if (in_word) words.push_back(std::move(cur));
      cur.clear();
      in_word = false;
      continue;
    }
    in_word = true;
    cur += c;
    if (c == escape && quote != '\'') {
      if (i + 1 < text.size()) cur += text[++i];
    } else if (quote != 0) {
      if (c == quote) quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '$' && i + 1 < text.size() && text[i + 1] == '{') {
      ++braces;
      cur += text[++i];
    } else if (c == '}' && braces > 0) {
      --braces;
    }
  }
  if (quote != 0)
    return fail(Errc::invalid_argument, quote == '"' ? "unterminated double quote" : "unterminated single quote");
  if (braces != 0) return fail(Errc::invalid_argument, "missing '}' in ${...}");
  if (in_word) words.push_back(std::move(cur));
  return words;
}

Result<std::string> expand_word(std::string_view word, char escape, const EnvMap& env, size_t max_bytes) {
  return Expander(escape, env, max_bytes).run(word, 0);
}

Result<std::vector<std::string>> expand_words(std::string_view text, char escape, const EnvMap& env,
                                              size_t max_bytes) {
  auto raw = split_raw_words(text, escape);
  if (!raw) return fail(std::move(raw.error()));
  std::vector<std::string> out;
  out.reserve(raw->size());
  for (auto& w : *raw) {
    auto v = expand_word(w, escape, env, max_bytes);
    if (!v) return fail(std::move(v.error()));
    out.push_back(std::move(*v));
  }
  return out;
}

}  // namespace nexus::rootfs
