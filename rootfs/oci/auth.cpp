// SPDX-License-Identifier: Apache-2.0
#include "rootfs/oci/auth.hpp"

#include <cctype>

#include <fmt/format.h>

#include "common/json.hpp"
#include "rootfs/oci/fs_io.hpp"

namespace nexus::oci {

namespace {

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~/").find(c) != std::string_view::npos;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
  }
  bool done() {
    skip_space();
    return i_ >= s_.size();
  }
  bool eat(char c) {
    skip_space();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  std::string_view token() {
    skip_space();
    size_t start = i_;
    while (i_ < s_.size() && is_token_char(s_[i_])) ++i_;
    return s_.substr(start, i_ - start);
  }
  // After a token: is the next non-space character '=' (a parameter, not a new scheme)?
  bool next_is_equals() {
    size_t j = i_;
    while (j < s_.size() && (s_[j] == ' ' || s_[j] == '\t')) ++j;
    return j < s_.size() && s_[j] == '=';
  }
  Result<std::string> value() {
    skip_space();
    if (i_ < s_.size() && s_[i_] == '"') {
      std::string out;
      for (++i_; i_ < s_.size(); ++i_) {
        if (s_[i_] == '\\' && i_ + 1 < s_.size())
          out.push_back(s_[++i_]);
        else if (s_[i_] == '"') {
          ++i_;
          return out;
        } else
          out.push_back(s_[i_]);
      }
      return fail(Errc::protocol, "WWW-Authenticate: unterminated quoted string");
    }
    auto t = token();
    // token68 values (e.g. base64) may end in '='.
    std::string out(t);
    while (i_ < s_.size() && s_[i_] == '=') out.push_back(s_[i_++]);
    return out;
  }
  size_t pos() const { return i_; }
  void seek(size_t p) { i_ = p; }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

std::string percent_encode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
      out.push_back(static_cast<char>(c));
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

}  // namespace

Result<std::vector<Challenge>> parse_www_authenticate(std::string_view header) {
  if (header.size() > 8192) return fail(Errc::protocol, "WWW-Authenticate header is too long");
  std::vector<Challenge> out;
  Lexer lx(header);
  while (!lx.done()) {
    if (lx.eat(',')) continue;
    auto scheme = lx.token();
    if (scheme.empty())
      return fail(Errc::protocol, fmt::format("WWW-Authenticate: unexpected character at {}", lx.pos()));
    Challenge c{lower(scheme), {}};
    for (;;) {
      size_t save = lx.pos();
      auto key = lx.token();
      if (key.empty()) break;
      if (!lx.next_is_equals()) {  // the next challenge's scheme
        lx.seek(save);
        break;
      }
      lx.eat('=');
      auto v = lx.value();
      if (!v) return fail(std::move(v).error());
      c.params[lower(key)] = std::move(*v);
      if (!lx.eat(',')) break;
    }
    out.push_back(std::move(c));
  }
  if (out.empty()) return fail(Errc::protocol, "WWW-Authenticate header has no challenge");
  return out;
}

Result<std::string> parse_token_reply(std::string_view body) {
  auto doc = parse_json(body);
  if (!doc) return fail(std::move(doc).error().wrap("token reply"));
  if (!doc->is_object()) return fail(Errc::protocol, "token reply is not a JSON object");
  for (const char* key : {"token", "access_token"}) {
    auto it = doc->find(key);
    if (it != doc->end() && it->is_string() && !it->get_ref<const std::string&>().empty()) {
      const auto& t = it->get_ref<const std::string&>();
      // Goes into a header: refuse anything that could split it.
      for (char c : t)
        if (c == '\r' || c == '\n' || c == '\0')
          return fail(Errc::protocol, "token reply: token has control characters");
      return t;
    }
  }
  return fail(Errc::protocol, "token reply has neither 'token' nor 'access_token'");
}

std::string token_url(const std::string& realm, const std::string& service, const std::string& scope) {
  std::string url = realm;
  char sep = realm.find('?') == std::string::npos ? '?' : '&';
  if (!service.empty()) {
    url += sep + std::string("service=") + percent_encode(service);
    sep = '&';
  }
  if (!scope.empty()) url += sep + std::string("scope=") + percent_encode(scope);
  return url;
}

Result<Credentials> Credentials::load(const std::string& path) {
  auto text = read_file_bounded(path, 1 << 20);
  if (!text) return fail(std::move(text).error().wrap("credentials file"));
  auto c = parse(*text);
  if (!c) return fail(std::move(c).error().wrap("credentials file " + path));
  return c;
}

Result<Credentials> Credentials::parse(std::string_view json_text) {
  auto doc = parse_json(json_text);
  if (!doc) return fail(std::move(doc).error());
  Credentials out;
  auto regs = doc->is_object() ? doc->find("registries") : doc->end();
  if (regs == doc->end() || !regs->is_object())
    return fail(Errc::invalid_argument,
                "must be {\"registries\": {\"host[:port]\": {\"username\": ..., \"password\": ...}}}");
  for (const auto& [host, entry] : regs->items()) {
    if (!entry.is_object()) return fail(Errc::invalid_argument, fmt::format("entry for '{}' must be an object", host));
    auto user = json_string(entry, "username");
    auto pass = json_string(entry, "password");
    if (!user || !pass || user->empty())
      return fail(Errc::invalid_argument, fmt::format("entry for '{}' needs string 'username' and 'password'", host));
    out.by_registry_[host] = Credential{*user, *pass};
  }
  return out;
}

std::optional<Credential> Credentials::find(const std::string& registry) const {
  auto it = by_registry_.find(registry);
  if (it == by_registry_.end() && registry == "docker.io") {
    for (const char* alias : {"index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/"}) {
      it = by_registry_.find(alias);
      if (it != by_registry_.end()) break;
    }
  }
  if (it == by_registry_.end()) return std::nullopt;
  return it->second;
}

}  // namespace nexus::oci
