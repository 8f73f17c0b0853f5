// SPDX-License-Identifier: Apache-2.0
#include "net/egress/inject.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "common/bounded_run.hpp"
#include "common/strings.hpp"
#include "common/unique_fd.hpp"

namespace nexus::net::egress {
namespace {

bool token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool env_name_char(char c, bool first) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || (!first && c >= '0' && c <= '9');
}

std::string shown(std::string_view s) {
  std::string out = "'";
  for (char c : s.substr(0, 120)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out + (s.size() > 120 ? "...'" : "'");
}

// A header value must not carry CR, LF or NUL (that would start another header or end the
// head); surrounding newlines of a file or a command's output are stripped first.
Result<std::string> clean_value(std::string v, const std::string& what) {
  while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
  if (v.empty()) return fail(Errc::unavailable, what + " gave an empty value");
  if (v.size() > kMaxHeaderValue)
    return fail(Errc::unavailable, fmt::format("{} gave a value longer than {} bytes", what, kMaxHeaderValue));
  for (char c : v)
    if (c == '\r' || c == '\n' || c == '\0')
      return fail(Errc::unavailable, what + " gave a value with a line break or NUL inside");
  return v;
}

Result<std::string> read_file_value(const std::string& path, const std::string& what) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) return fail(Errc::unavailable, fmt::format("{}: {}", what, std::strerror(errno)));
  std::string v;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(Errc::unavailable, fmt::format("{}: {}", what, std::strerror(errno)));
    }
    if (n == 0) break;
    v.append(buf, static_cast<size_t>(n));
    if (v.size() > kMaxHeaderValue + 2)
      return fail(Errc::unavailable, fmt::format("{} is longer than {} bytes", what, kMaxHeaderValue));
  }
  return v;
}

}  // namespace

bool valid_header_name(std::string_view name) {
  if (name.empty() || name.size() > 256) return false;
  for (char c : name)
    if (!token_char(c)) return false;
  return true;
}

Result<Provider> Provider::parse(std::string_view text) {
  Provider p;
  auto colon = text.find(':');
  std::string_view kind = text.substr(0, colon);
  std::string_view rest = colon == std::string_view::npos ? std::string_view{} : text.substr(colon + 1);
  if (colon == std::string_view::npos || rest.empty())
    return fail(Errc::invalid_argument,
                fmt::format("provider {} is not file:/path, env:NAME or command:/path args", shown(text)));
  if (kind == "file") {
    if (rest.front() != '/') return fail(Errc::invalid_argument, fmt::format("provider {}: the file path must be absolute", shown(text)));
    p.kind = Kind::file;
    p.path = std::string(rest);
  } else if (kind == "env") {
    for (size_t i = 0; i < rest.size(); ++i)
      if (!env_name_char(rest[i], i == 0))
        return fail(Errc::invalid_argument, fmt::format("provider {}: bad environment variable name", shown(text)));
    p.kind = Kind::env;
    p.name = std::string(rest);
  } else if (kind == "command") {
    std::vector<std::string> words;
    for (auto& w : split(rest, ' '))
      if (!w.empty()) words.push_back(w);
    if (words.empty() || words[0].front() != '/')
      return fail(Errc::invalid_argument, fmt::format("provider {}: the command must be an absolute path", shown(text)));
    p.kind = Kind::command;
    p.path = words[0];
    p.args.assign(words.begin() + 1, words.end());
  } else {
    return fail(Errc::invalid_argument,
                fmt::format("provider {}: unknown kind {} (file, env or command)", shown(text), shown(kind)));
  }
  return p;
}

std::string Provider::to_string() const {
  switch (kind) {
    case Kind::file: return "file:" + path;
    case Kind::env: return "env:" + name;
    case Kind::command: {
      std::string s = "command:" + path;
      for (const auto& a : args) s += " " + a;
      return s;
    }
    case Kind::literal: return "literal";
  }
  return "literal";
}

Result<InjectRule> parse_inject_spec(std::string_view text) {
  auto colon = text.find(':');
  auto eq = text.find('=', colon == std::string_view::npos ? 0 : colon);
  if (colon == std::string_view::npos || eq == std::string_view::npos)
    return fail(Errc::invalid_argument,
                fmt::format("inject rule {} is not host:Header=provider", shown(text)));
  InjectRule r;
  auto host = DomainPattern::parse(text.substr(0, colon));
  if (!host) return fail(std::move(host.error()).wrap(fmt::format("inject rule {}", shown(text))));
  r.host = std::move(*host);
  r.header = std::string(text.substr(colon + 1, eq - colon - 1));
  if (!valid_header_name(r.header))
    return fail(Errc::invalid_argument, fmt::format("inject rule {}: bad header name {}", shown(text), shown(r.header)));
  auto prov = Provider::parse(text.substr(eq + 1));
  if (!prov) return fail(std::move(prov.error()).wrap(fmt::format("inject rule for {}", r.host.to_string())));
  r.provider = std::move(*prov);
  return r;
}

std::string to_spec(const InjectRule& rule) {
  return rule.host.to_string() + ":" + rule.header + "=" + rule.provider.to_string();
}

Result<InjectRule> inject_rule_from_json(const Json& j, std::string_view where) {
  if (!j.is_object()) return fail(Errc::invalid_argument, fmt::format("{}: must be an object", where));
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.key() != "host" && it.key() != "header" && it.key() != "provider")
      return fail(Errc::invalid_argument, fmt::format("{}: unknown field {}", where, shown(it.key())));
  InjectRule r;
  for (const char* key : {"host", "header", "provider"})
    if (!j.contains(key) || !j[key].is_string())
      return fail(Errc::invalid_argument, fmt::format("{}.{}: required, a string", where, key));
  auto host = DomainPattern::parse(j["host"].get<std::string>());
  if (!host) return fail(std::move(host.error()).wrap(fmt::format("{}.host", where)));
  r.host = std::move(*host);
  r.header = j["header"].get<std::string>();
  if (!valid_header_name(r.header))
    return fail(Errc::invalid_argument, fmt::format("{}.header: bad header name {}", where, shown(r.header)));
  auto prov = Provider::parse(j["provider"].get<std::string>());
  if (!prov) return fail(std::move(prov.error()).wrap(fmt::format("{}.provider", where)));
  r.provider = std::move(*prov);
  return r;
}

Json to_json(const InjectRule& rule) {
  return Json{{"host", rule.host.to_string()}, {"header", rule.header}, {"provider", rule.provider.to_string()}};
}

Result<std::vector<InjectRule>> inject_rules_from_e2b(const Json& rules) {
  std::vector<InjectRule> out;
  if (rules.is_null()) return out;
  if (!rules.is_object()) return fail(Errc::invalid_argument, "network.rules: must be an object of host -> [rules]");
  for (auto it = rules.begin(); it != rules.end(); ++it) {
    auto host = DomainPattern::parse(it.key());
    if (!host) return fail(std::move(host.error()).wrap("network.rules"));
    const std::string where = fmt::format("network.rules[{}]", shown(it.key()));
    if (!it.value().is_array()) return fail(Errc::invalid_argument, where + ": must be an array");
    for (const auto& item : it.value()) {
      if (!item.is_object()) return fail(Errc::invalid_argument, where + ": each rule must be an object");
      if (!item.contains("transform")) continue;
      const auto& tr = item["transform"];
      if (!tr.is_object()) return fail(Errc::invalid_argument, where + ".transform: must be an object");
      if (!tr.contains("headers")) continue;
      const auto& hs = tr["headers"];
      if (!hs.is_object()) return fail(Errc::invalid_argument, where + ".transform.headers: must be an object");
      for (auto h = hs.begin(); h != hs.end(); ++h) {
        if (!valid_header_name(h.key()))
          return fail(Errc::invalid_argument, fmt::format("{}.transform.headers: bad header name {}", where, shown(h.key())));
        if (!h.value().is_string())
          return fail(Errc::invalid_argument, fmt::format("{}.transform.headers.{}: must be a string", where, h.key()));
        auto v = clean_value(h.value().get<std::string>(), fmt::format("{}.transform.headers.{}", where, h.key()));
        if (!v) return fail(Errc::invalid_argument, v.error().message());
        InjectRule r;
        r.host = *host;
        r.header = h.key();
        r.provider.kind = Provider::Kind::literal;
        r.provider.literal = std::move(*v);
        out.push_back(std::move(r));
        if (out.size() > kMaxInjectRules)
          return fail(Errc::too_large, fmt::format("network.rules: more than {} header rules", kMaxInjectRules));
      }
    }
  }
  return out;
}

std::vector<const InjectRule*> matching_rules(const std::vector<InjectRule>& sandbox,
                                              const std::vector<InjectRule>& global, std::string_view host) {
  std::vector<const InjectRule*> out;
  auto add = [&](const InjectRule& r) {
    for (const auto* o : out)
      if (iequals(o->header, r.header)) return;  // the sandbox's rule for a header wins
    out.push_back(&r);
  };
  for (const auto& r : sandbox)
    if (r.host.matches(host)) add(r);
  for (const auto& r : global)
    if (r.host.matches(host)) add(r);
  return out;
}

CredentialCache::CredentialCache(std::chrono::milliseconds ttl, std::chrono::milliseconds command_timeout)
    : ttl_(ttl), command_timeout_(command_timeout) {}

void CredentialCache::clear() {
  std::lock_guard lock(mu_);
  cache_.clear();
}

Result<std::string> CredentialCache::get(const Provider& p) {
  if (p.kind == Provider::Kind::literal) return p.literal;
  const std::string key = p.to_string();
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end() && it->second.expires > now) return it->second.value;
  }
  const std::string what = "credential provider " + key;
  std::string raw;
  switch (p.kind) {
    case Provider::Kind::file: {
      auto v = read_file_value(p.path, what);
      if (!v) return fail(Errc::unavailable, v.error().message());
      raw = std::move(*v);
      break;
    }
    case Provider::Kind::env: {
      const char* v = std::getenv(p.name.c_str());
      if (!v) return fail(Errc::unavailable, what + ": the variable is not set");
      raw = v;
      break;
    }
    case Provider::Kind::command: {
      std::vector<std::string> argv{p.path};
      argv.insert(argv.end(), p.args.begin(), p.args.end());
      auto r = run_bounded(argv, static_cast<uint64_t>(command_timeout_.count()), kMaxHeaderValue + 2);
      if (!r) return fail(Errc::unavailable, fmt::format("{}: cannot run it", what));
      if (r->timed_out)
        return fail(Errc::unavailable, fmt::format("{}: no answer within {} ms", what, command_timeout_.count()));
      if (r->exit_code != 0)
        return fail(Errc::unavailable, fmt::format("{}: exited with status {}", what, r->exit_code));
      raw = std::move(r->out);
      break;
    }
    case Provider::Kind::literal: break;
  }
  auto v = clean_value(std::move(raw), what);
  if (!v) return v;
  std::lock_guard lock(mu_);
  cache_[key] = Entry{*v, now + ttl_};
  return v;
}

}  // namespace nexus::net::egress
