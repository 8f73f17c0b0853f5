// SPDX-License-Identifier: Apache-2.0
#include "rootfs/oci/reference.hpp"

#include <cctype>

#include <fmt/format.h>

#include "common/strings.hpp"

namespace nexus::oci {

namespace {

constexpr size_t kMaxNameLength = 255;
constexpr size_t kMaxTagLength = 128;

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_alnum(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z'); }

// path-component: [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
bool valid_path_component(std::string_view s) {
  size_t i = 0;
  auto alnum_run = [&] {
    size_t start = i;
    while (i < s.size() && is_lower_alnum(s[i])) ++i;
    return i > start;
  };
  if (!alnum_run()) return false;
  while (i < s.size()) {
    if (s[i] == '.') {
      ++i;
    } else if (s[i] == '_') {
      ++i;
      if (i < s.size() && s[i] == '_') ++i;
    } else if (s[i] == '-') {
      while (i < s.size() && s[i] == '-') ++i;
    } else {
      return false;
    }
    if (!alnum_run()) return false;
  }
  return true;
}

bool valid_port(std::string_view p) {
  if (p.empty() || p.size() > 5) return false;
  for (char c : p)
    if (c < '0' || c > '9') return false;
  return true;
}

// host: dns labels separated by '.', or [ipv6]; then an optional :port.
bool valid_host(std::string_view s) {
  if (s.empty()) return false;
  std::string_view host = s, port;
  if (s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos) return false;
    for (char c : s.substr(1, close - 1))
      if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.')) return false;
    auto rest = s.substr(close + 1);
    if (rest.empty()) return close > 1;
    return rest.front() == ':' && valid_port(rest.substr(1));
  }
  if (auto colon = s.rfind(':'); colon != std::string_view::npos) {
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (!valid_port(port)) return false;
  }
  for (const auto& label : split(host, '.')) {
    if (label.empty() || !is_alnum(label.front()) || !is_alnum(label.back())) return false;
    for (char c : label)
      if (!is_alnum(c) && c != '-') return false;
  }
  return true;
}

bool valid_tag(std::string_view t) {
  if (t.empty() || t.size() > kMaxTagLength) return false;
  auto word = [](char c) { return is_alnum(c) || c == '_'; };
  if (!word(t.front())) return false;
  for (char c : t)
    if (!word(c) && c != '.' && c != '-') return false;
  return true;
}

// Docker's rule: the first component is a host when it has a '.' or ':' or is localhost.
bool looks_like_host(std::string_view first) {
  return first.find_first_of(".:[") != std::string_view::npos || first == "localhost";
}

}  // namespace

Result<Reference> parse_reference(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return fail(Errc::invalid_argument, fmt::format("invalid image reference '{}': {}", text, why));
  };
  if (text.empty()) return bad("empty");
  Reference ref;
  std::string_view rest = text;
  if (auto at = rest.find('@'); at != std::string_view::npos) {
    auto d = parse_digest(rest.substr(at + 1));
    if (!d) return bad(d.error().message());
    ref.digest = *d;
    rest = rest.substr(0, at);
  }
  // A ':' after the last '/' starts the tag (a ':' before it belongs to the host's port).
  auto slash = rest.rfind('/');
  auto colon = rest.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    ref.tag = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
    if (!valid_tag(ref.tag))
      return bad(fmt::format("tag '{}' must be 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'", ref.tag));
  }
  if (rest.empty()) return bad("no repository name");
  auto first_slash = rest.find('/');
  std::string_view path = rest;
  if (first_slash != std::string_view::npos && looks_like_host(rest.substr(0, first_slash))) {
    ref.registry = std::string(rest.substr(0, first_slash));
    path = rest.substr(first_slash + 1);
    if (!valid_host(ref.registry))
      return bad(fmt::format("registry host '{}' is not a valid host[:port]", ref.registry));
  } else {
    ref.registry = "docker.io";
  }
  if (ref.registry == "index.docker.io" || ref.registry == "registry-1.docker.io") ref.registry = "docker.io";
  if (path.empty()) return bad("no repository name");
  for (const auto& component : split(path, '/')) {
    if (component.empty()) return bad("empty path component in the repository name");
    if (!valid_path_component(component)) {
      bool upper = false;
      for (char c : component) upper |= (c >= 'A' && c <= 'Z');
      if (upper) return bad(fmt::format("repository component '{}' must be lowercase", component));
      return bad(
          fmt::format("repository component '{}' must be [a-z0-9] separated by '.', '_', '__' or '-'", component));
    }
  }
  ref.repository = std::string(path);
  if (ref.registry == "docker.io" && ref.repository.find('/') == std::string::npos)
    ref.repository = "library/" + ref.repository;
  if (ref.registry.size() + 1 + ref.repository.size() > kMaxNameLength)
    return bad(fmt::format("name longer than {} characters", kMaxNameLength));
  if (ref.tag.empty() && !ref.digest) ref.tag = "latest";
  return ref;
}

std::string Reference::api_host() const { return registry == "docker.io" ? "registry-1.docker.io" : registry; }

std::string Reference::manifest_ref() const { return digest ? digest->str() : tag; }

std::string Reference::str() const {
  std::string s = registry + "/" + repository;
  if (!tag.empty()) s += ":" + tag;
  if (digest) s += "@" + digest->str();
  return s;
}

bool is_loopback_host(std::string_view host_port) {
  std::string_view host = host_port;
  if (!host.empty() && host.front() == '[') {
    return host.substr(0, host.find(']') + 1) == "[::1]";
  }
  if (auto colon = host.find(':'); colon != std::string_view::npos) host = host.substr(0, colon);
  return host == "localhost" || starts_with(host, "127.");
}

}  // namespace nexus::oci
