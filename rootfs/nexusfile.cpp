// SPDX-License-Identifier: Apache-2.0
#include "rootfs/nexusfile.hpp"

#include <cctype>
#include <optional>

#include <fmt/format.h>

#include "common/json.hpp"
#include "common/strings.hpp"

namespace nexus::rootfs {

namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

tl::unexpected<Error> at(int line, std::string_view what) {
  return fail(Errc::invalid_argument, fmt::format("line {}: {}", line, what));
}
tl::unexpected<Error> at(int line, Error e) {
  return fail(std::move(e).wrap(fmt::format("line {}", line)));
}

// Instructions that are not supported, with what to use instead.
std::optional<std::string_view> unsupported_hint(std::string_view kw) {
  static constexpr std::pair<std::string_view, std::string_view> kHints[] = {
      {"ADD", "use COPY"},
      {"ENTRYPOINT", "use CMD: it is the template's start command"},
      {"ARG", "there are no build arguments; use ENV"},
      {"VOLUME", "a sandbox has one writable root filesystem"},
      {"HEALTHCHECK", "the agent reports a sandbox's health"},
      {"ONBUILD", "templates are not built upon"},
      {"SHELL", "name the shell in RUN's exec form: RUN [\"/bin/bash\", \"-c\", \"...\"]"},
      {"STOPSIGNAL", "sandboxes are stopped by their agent"},
      {"MAINTAINER", "it is deprecated in Dockerfiles too"},
  };
  for (auto& [name, hint] : kHints)
    if (kw == name) return hint;
  return std::nullopt;
}

// `<<EOF`, `<<-EOF`, `<<"EOF"` at the start of a word.
bool has_heredoc(std::string_view s) {
  for (size_t i = s.find("<<"); i != std::string_view::npos; i = s.find("<<", i + 2)) {
    if (i > 0 && s[i - 1] != ' ' && s[i - 1] != '\t') continue;
    size_t j = i + 2;
    if (j < s.size() && s[j] == '-') ++j;
    if (j < s.size() && (s[j] == '"' || s[j] == '\'')) ++j;
    if (j < s.size() && (std::isalpha(static_cast<unsigned char>(s[j])) || s[j] == '_')) return true;
  }
  return false;
}

// Leading `--name[=value]` flags; `args` is left at what follows them.
std::vector<std::pair<std::string, std::optional<std::string>>> take_flags(std::string_view& args) {
  std::vector<std::pair<std::string, std::optional<std::string>>> flags;
  while (starts_with(args, "--")) {
    size_t end = args.find_first_of(" \t");
    std::string_view tok = args.substr(0, end);
    size_t eq = tok.find('=');
    if (eq == std::string_view::npos)
      flags.emplace_back(std::string(tok.substr(2)), std::nullopt);
    else
      flags.emplace_back(std::string(tok.substr(2, eq - 2)), std::string(tok.substr(eq + 1)));
    args = end == std::string_view::npos ? std::string_view{} : trim(args.substr(end));
  }
  return flags;
}

// A JSON array of strings, or nullopt when `args` is not one.
std::optional<std::vector<std::string>> json_string_array(std::string_view args) {
  auto j = parse_json(args);
  if (!j || !j->is_array()) return std::nullopt;
  std::vector<std::string> out;
  for (auto& e : *j) {
    if (!e.is_string()) return std::nullopt;
    out.push_back(e.get<std::string>());
  }
  return out;
}

// `["` opens what can only be meant as an exec form.
bool looks_like_exec_form(std::string_view args) {
  if (args.empty() || args[0] != '[') return false;
  args = trim(args.substr(1));
  return !args.empty() && (args[0] == '"' || args[0] == ']');
}

bool valid_image_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || c == '/' || c == ':' ||
         c == '@';
}

std::string known_suites() {
  std::string s;
  for (auto suite : kKnownDebianSuites) s += (s.empty() ? "" : ", ") + std::string(suite);
  return s;
}

class Parser {
 public:
  Parser(const LexedNexusfile& lx, const NexusfileLimits& limits) : lx_(lx), limits_(limits) {}

  Result<Nexusfile> run() {
    out_.syntax = lx_.syntax;
    if (lx_.lines.empty()) return fail(Errc::invalid_argument, "the Nexusfile has no FROM instruction");
    for (auto& l : lx_.lines) NEXUS_TRY(instruction(l));
    if (!env_.empty()) out_.defaults.env = env_;
    if (workdir_set_) out_.defaults.workdir = workdir_;
    if (!user_.empty()) out_.defaults.user = user_;
    out_.defaults.base = out_.base.str();
    return std::move(out_);
  }

 private:
  Result<void> instruction(const LogicalLine& l) {
    std::string kw = upper(l.keyword);
    if (!have_from_) {
      if (kw == "FROM") return from(l);
      if (kw == "ARG") return at(l.line, "ARG is not supported: there are no build arguments (use ENV after FROM)");
      return at(l.line, fmt::format("the Nexusfile must start with FROM (found {})", kw));
    }
    if (kw == "FROM")
      return at(l.line, fmt::format("only one FROM is allowed (the first is on line {}): multi-stage builds are "
                                    "not supported",
                                    out_.base.line));
    if (kw == "EXPOSE" || kw == "LABEL") {
      out_.warnings.push_back(fmt::format("line {}: {} is ignored ({})", l.line, kw,
                                          kw == "EXPOSE" ? "a sandbox's ports are reached through the E2B endpoint"
                                                         : "templates carry no labels"));
      return {};
    }
    if (auto hint = unsupported_hint(kw)) return at(l.line, fmt::format("{} is not supported ({})", kw, *hint));

    Step s;
    s.line = l.line;
    s.text = l.args.empty() ? kw : kw + " " + l.args;
    if (kw == "RUN") {
      s.kind = StepKind::run;
      NEXUS_TRY(command(l, kw, s.command));
    } else if (kw == "CMD") {
      s.kind = StepKind::cmd;
      NEXUS_TRY(command(l, kw, s.command));
      if (cmd_line_ != 0)
        out_.warnings.push_back(fmt::format("line {}: CMD replaces the CMD of line {}", l.line, cmd_line_));
      cmd_line_ = l.line;
      if (s.command.form == Command::Form::exec && s.command.argv.empty())
        out_.defaults.start_command.reset();  // `CMD []`: no start command
      else
        out_.defaults.start_command = s.command;
    } else if (kw == "COPY") {
      s.kind = StepKind::copy;
      NEXUS_TRY(copy(l, s));
    } else if (kw == "ENV") {
      s.kind = StepKind::env;
      NEXUS_TRY(env(l, s));
    } else if (kw == "WORKDIR") {
      s.kind = StepKind::workdir;
      NEXUS_TRY(workdir(l, s));
    } else if (kw == "USER") {
      s.kind = StepKind::user;
      NEXUS_TRY(user(l, s));
    } else {
      return at(l.line, fmt::format("unknown instruction '{}'", l.keyword.substr(0, 40)));
    }
    out_.steps.push_back(std::move(s));
    return {};
  }

  Result<void> from(const LogicalLine& l) {
    have_from_ = true;
    out_.base.line = l.line;
    std::string_view args = l.args;
    for (auto& [name, value] : take_flags(args))
      return at(l.line, fmt::format("FROM --{} is not supported{}", name,
                                    name == "platform" ? " (the host's platform is used)" : ""));
    if (args.find('$') != std::string_view::npos)
      return at(l.line, "variables are not supported in FROM (there are no build arguments)");
    auto words = split_raw_words(args, lx_.escape);
    if (!words) return at(l.line, std::move(words.error()));
    if (words->size() == 3 && iequals((*words)[1], "AS"))
      return at(l.line, fmt::format("FROM ... AS {}: multi-stage builds are not supported", (*words)[2]));
    if (words->size() != 1) return at(l.line, "FROM takes one image reference or debian:<suite>");
    const std::string& ref = (*words)[0];
    if (ref == "debian")
      return at(l.line, fmt::format("FROM debian needs a suite, e.g. debian:bookworm ({}); for the Docker Hub "
                                    "image write docker.io/library/debian",
                                    known_suites()));
    if (starts_with(ref, "debian:") && ref.find_first_of("/@") == std::string::npos) {
      std::string suite = ref.substr(7);
      for (auto known : kKnownDebianSuites) {
        if (suite == known) {
          out_.base.kind = NexusfileBase::Kind::debian;
          out_.base.suite = suite;
          return {};
        }
      }
      return at(l.line, fmt::format("unknown Debian suite '{}' (known: {}); for the Docker Hub image write "
                                    "docker.io/library/{}",
                                    suite.substr(0, 64), known_suites(), ref.substr(0, 128)));
    }
    if (ref == "scratch") return at(l.line, "FROM scratch is not supported: RUN needs a shell and a base system");
    bool ok = ref.size() <= 512 && std::isalnum(static_cast<unsigned char>(ref[0])) &&
              ref.find("//") == std::string::npos && ref.back() != ':' && ref.back() != '/' && ref.back() != '@';
    for (char c : ref) ok = ok && valid_image_char(c);
    if (!ok) return at(l.line, fmt::format("invalid image reference '{}'", ref.substr(0, 128)));
    out_.base.kind = NexusfileBase::Kind::image;
    out_.base.image = ref;
    return {};
  }

  Result<void> command(const LogicalLine& l, const std::string& kw, Command& out) {
    std::string_view args = l.args;
    if (kw == "RUN")
      for (auto& [name, value] : take_flags(args))
        return at(l.line, fmt::format("RUN --{} is not supported", name));
    if (args.empty()) return at(l.line, fmt::format("{} needs a command", kw));
    if (has_heredoc(args))
      return at(l.line, fmt::format("heredocs (<<EOF) are not supported in {}; COPY a script and run it", kw));
    if (auto argv = json_string_array(args)) {
      if (argv->empty() && kw == "RUN") return at(l.line, "RUN needs a command (the exec form is empty)");
      for (auto& a : *argv)
        if (a.find('\0') != std::string::npos) return at(l.line, fmt::format("{}: NUL in an argument", kw));
      out = Command::exec(std::move(*argv));
      return {};
    }
    // Docker runs a non-JSON `[...]` as a shell command; `["` can only be a broken exec form.
    if (looks_like_exec_form(args))
      return at(l.line, fmt::format("{}: the exec form is not a valid JSON array of strings "
                                    "(use double quotes: [\"executable\", \"arg\"])",
                                    kw));
    out = Command::shell(std::string(args));
    return {};
  }

  Result<void> copy(const LogicalLine& l, Step& s) {
    std::string_view args = l.args;
    for (auto& [name, value] : take_flags(args)) {
      if (name == "chown") {
        if (!value || value->empty()) return at(l.line, "COPY --chown needs a value: --chown=user[:group]");
        auto v = expand_word(*value, lx_.escape, env_, limits_.max_expansion_bytes);
        if (!v) return at(l.line, std::move(v.error()).wrap("COPY --chown"));
        if (auto r = validate_user_spec(*v); !r) return at(l.line, std::move(r.error()).wrap("COPY --chown"));
        s.chown = *v;
      } else if (name == "from") {
        return at(l.line, "COPY --from is not supported (multi-stage builds are not supported)");
      } else {
        return at(l.line, fmt::format("COPY --{} is not supported (only --chown)", name.substr(0, 40)));
      }
    }
    if (has_heredoc(args)) return at(l.line, "heredocs (<<EOF) are not supported in COPY");
    std::vector<std::string> words;
    if (looks_like_exec_form(args)) {
      auto arr = json_string_array(args);
      if (!arr) return at(l.line, "COPY: the JSON form is not a valid array of strings");
      for (auto& w : *arr) {
        auto v = expand_word(w, lx_.escape, env_, limits_.max_expansion_bytes);
        if (!v) return at(l.line, std::move(v.error()).wrap("COPY"));
        words.push_back(std::move(*v));
      }
    } else {
      auto w = expand_words(args, lx_.escape, env_, limits_.max_expansion_bytes);
      if (!w) return at(l.line, std::move(w.error()).wrap("COPY"));
      words = std::move(*w);
    }
    if (words.size() < 2) return at(l.line, "COPY needs at least one source and a destination");
    for (size_t i = 0; i + 1 < words.size(); ++i) {
      const std::string& src = words[i];
      if (src.empty()) return at(l.line, "COPY: an empty source");
      if (src[0] == '/')
        return at(l.line, fmt::format("COPY source '{}' must be relative to the build context", src.substr(0, 128)));
      std::vector<std::string> parts;
      for (auto& part : split(src, '/')) {
        if (part.empty() || part == ".") continue;
        if (part == "..") {
          if (parts.empty())
            return at(l.line, fmt::format("COPY source '{}' leaves the build context", src.substr(0, 128)));
          parts.pop_back();
        } else {
          parts.push_back(part);
        }
      }
      std::string norm;
      for (auto& p : parts) norm += (norm.empty() ? "" : "/") + p;
      s.sources.push_back(norm.empty() ? "." : norm);
    }
    std::string dest = words.back();
    if (dest.empty()) return at(l.line, "COPY: an empty destination");
    bool is_dir = dest.back() == '/' || dest == "." || dest == ".." || dest.ends_with("/.") || dest.ends_with("/..");
    if (dest[0] != '/') dest = workdir_ + "/" + dest;
    dest = normalize_abs_path(dest);
    if (dest.size() > kMaxPathBytes) return at(l.line, "COPY: the destination is too long");
    if (is_dir && dest != "/") dest += '/';
    if (s.sources.size() > 1 && dest.back() != '/')
      return at(l.line, "COPY with several sources needs a destination directory ending in '/'");
    s.dest = dest;
    return {};
  }

  Result<void> env(const LogicalLine& l, Step& s) {
    auto raw = split_raw_words(l.args, lx_.escape);
    if (!raw) return at(l.line, std::move(raw.error()).wrap("ENV"));
    if (raw->empty()) return at(l.line, "ENV needs KEY=VALUE");
    auto value_of = [&](std::string_view w) -> Result<std::string> {
      auto v = expand_word(w, lx_.escape, env_, limits_.max_expansion_bytes);  // values before this ENV
      if (!v) return at(l.line, std::move(v.error()).wrap("ENV"));
      return v;
    };
    if ((*raw)[0].find('=') != std::string::npos) {
      for (auto& w : *raw) {
        size_t eq = w.find('=');
        if (eq == std::string::npos)
          return at(l.line, fmt::format("ENV: expected KEY=VALUE, got '{}'", w.substr(0, 64)));
        auto v = value_of(std::string_view(w).substr(eq + 1));
        if (!v) return fail(std::move(v.error()));
        s.env.emplace_back(w.substr(0, eq), std::move(*v));
      }
    } else {  // legacy `ENV KEY value with spaces`
      if (raw->size() < 2)
        return at(l.line, fmt::format("ENV {} needs a value (ENV {}=value)", (*raw)[0].substr(0, 64),
                                      (*raw)[0].substr(0, 64)));
      std::string_view rest = trim(std::string_view(l.args).substr((*raw)[0].size()));
      auto v = value_of(rest);
      if (!v) return fail(std::move(v.error()));
      s.env.emplace_back((*raw)[0], std::move(*v));
    }
    for (auto& [k, v] : s.env) {
      if (!is_valid_env_key(k))
        return at(l.line, fmt::format("ENV: invalid variable name '{}' ([A-Za-z_][A-Za-z0-9_]*)", k.substr(0, 64)));
      if (v.size() > kMaxEnvValueBytes)
        return at(l.line, fmt::format("ENV: the value of {} is longer than {} bytes", k, kMaxEnvValueBytes));
    }
    for (auto& [k, v] : s.env) env_[k] = v;
    if (env_.size() > kMaxEnvEntries)
      return at(l.line, fmt::format("ENV: more than {} variables", kMaxEnvEntries));
    return {};
  }

  Result<void> workdir(const LogicalLine& l, Step& s) {
    auto v = expand_word(l.args, lx_.escape, env_, limits_.max_expansion_bytes);
    if (!v) return at(l.line, std::move(v.error()).wrap("WORKDIR"));
    if (trim(*v).empty()) return at(l.line, "WORKDIR needs a path");
    std::string path = (*v)[0] == '/' ? *v : workdir_ + "/" + *v;
    path = normalize_abs_path(path);
    if (path.size() > kMaxPathBytes) return at(l.line, "WORKDIR: the path is longer than 4096 bytes");
    workdir_ = path;
    workdir_set_ = true;
    s.path = path;
    return {};
  }

  Result<void> user(const LogicalLine& l, Step& s) {
    auto v = expand_word(l.args, lx_.escape, env_, limits_.max_expansion_bytes);
    if (!v) return at(l.line, std::move(v.error()).wrap("USER"));
    if (v->empty()) return at(l.line, "USER needs a user name or uid");
    if (auto r = validate_user_spec(*v); !r) return at(l.line, std::move(r.error()).wrap("USER"));
    user_ = *v;
    s.user = *v;
    return {};
  }

  const LexedNexusfile& lx_;
  const NexusfileLimits& limits_;
  Nexusfile out_;
  bool have_from_ = false;
  EnvMap env_;
  std::string workdir_ = "/";
  bool workdir_set_ = false;
  std::string user_;
  int cmd_line_ = 0;
};

}  // namespace

std::string normalize_abs_path(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view part = path.substr(i, j - i);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    i = j + 1;
  }
  std::string out;
  for (auto p : parts) {
    out += '/';
    out.append(p);
  }
  return out.empty() ? "/" : out;
}

Result<Nexusfile> parse_nexusfile(std::string_view text, const NexusfileLimits& limits) {
  auto lx = lex_nexusfile(text, limits);
  if (!lx) return fail(std::move(lx.error()));
  return Parser(*lx, limits).run();
}

std::string describe_step(const Nexusfile& f, size_t index) {
  if (index >= f.steps.size()) return {};
  std::string text = f.steps[index].text;
  for (char& c : text)
    if (c == '\t') c = ' ';
  if (text.size() > 72) text = text.substr(0, 69) + "...";
  return fmt::format("step {}/{}: {}", index + 1, f.steps.size(), text);
}

}  // namespace nexus::rootfs
