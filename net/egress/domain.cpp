// SPDX-License-Identifier: Apache-2.0
#include "net/egress/domain.hpp"

#include <arpa/inet.h>

#include <fmt/format.h>

namespace nexus::net::egress {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool label_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

// Quote a piece of hostile input for an error message: printable ASCII only, bounded.
std::string shown(std::string_view s) {
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < 80; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  if (s.size() > 80) out += "...";
  return out + "'";
}

// Validates a lower-cased name without a trailing dot; returns an empty string when fine.
std::string check_name(std::string_view name) {
  if (name.empty()) return "is empty";
  if (name.size() > kMaxDomainLength) return fmt::format("is longer than {} characters", kMaxDomainLength);
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    std::string_view label = name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty()) return "has an empty label";
    if (label.size() > kMaxLabelLength) return fmt::format("has a label longer than {} characters", kMaxLabelLength);
    for (char c : label) {
      if (c == '*') return "has a '*' that is not a leading '*.'";
      if (!label_char(c)) return fmt::format("has a bad character {}", shown(std::string_view(&c, 1)));
    }
    if (label.front() == '-' || label.back() == '-') return "has a label starting or ending with '-'";
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return "";
}

std::string lowered_without_dot(std::string_view text) {
  std::string s;
  s.reserve(text.size());
  for (char c : text) s += lower(c);
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

}  // namespace

bool is_ip_literal(std::string_view host) {
  std::string h(host);
  unsigned char buf[16];
  return ::inet_pton(AF_INET, h.c_str(), buf) == 1 || ::inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

Result<std::string> normalize_host(std::string_view host) {
  if (host.size() > kMaxDomainLength + 3)
    return fail(Errc::invalid_argument, fmt::format("host {} is longer than {} characters", shown(host), kMaxDomainLength));
  std::string h = lowered_without_dot(host);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (is_ip_literal(h)) return h;
  std::string why = check_name(h);
  if (!why.empty()) return fail(Errc::invalid_argument, fmt::format("host {} {}", shown(host), why));
  return h;
}

Result<DomainPattern> DomainPattern::parse(std::string_view text) {
  DomainPattern p;
  if (text.size() > kMaxDomainLength + 1)
    return fail(Errc::invalid_argument, fmt::format("domain pattern {} is longer than {} characters", shown(text), kMaxDomainLength));
  std::string_view rest = text;
  if (rest.size() >= 2 && rest[0] == '*' && rest[1] == '.') {
    p.wildcard = true;
    rest.remove_prefix(2);
  }
  std::string s = lowered_without_dot(rest);
  std::string why = check_name(s);
  if (!why.empty()) {
    if (s.empty() && p.wildcard) why = "has nothing after '*.'";
    return fail(Errc::invalid_argument, fmt::format("domain pattern {} {}", shown(text), why));
  }
  if (p.wildcard && s.size() + 2 > kMaxDomainLength)
    return fail(Errc::invalid_argument, fmt::format("domain pattern {} is longer than {} characters", shown(text), kMaxDomainLength));
  p.base = std::move(s);
  return p;
}

bool DomainPattern::matches(std::string_view host) const {
  if (!wildcard) return host == base;
  // "*.example.com": host must end with ".example.com" and have at least one label before it.
  return host.size() > base.size() + 1 && host.substr(host.size() - base.size()) == base &&
         host[host.size() - base.size() - 1] == '.';
}

Result<DomainList> DomainList::parse(const std::vector<std::string>& texts, std::string_view field) {
  if (texts.size() > kMaxDomainPatterns)
    return fail(Errc::too_large, fmt::format("{}: more than {} domain patterns", field, kMaxDomainPatterns));
  DomainList list;
  for (size_t i = 0; i < texts.size(); ++i) {
    auto p = DomainPattern::parse(texts[i]);
    if (!p) return fail(std::move(p.error()).wrap(fmt::format("{}[{}]", field, i)));
    list.patterns.push_back(std::move(*p));
  }
  return list;
}

const DomainPattern* DomainList::match(std::string_view host) const {
  for (const auto& p : patterns)
    if (p.matches(host)) return &p;
  return nullptr;
}

std::vector<std::string> DomainList::to_strings() const {
  std::vector<std::string> out;
  for (const auto& p : patterns) out.push_back(p.to_string());
  return out;
}

DomainDecision decide_domain(const DomainLayer& sandbox, const DomainLayer& global, std::string_view host) {
  for (auto [layer, name] : {std::pair{&sandbox, "sandbox"}, std::pair{&global, "global"}}) {
    if (const auto* p = layer->deny.match(host)) return {DomainVerdict::deny, name, p->to_string()};
    if (const auto* p = layer->allow.match(host)) return {DomainVerdict::allow, name, p->to_string()};
  }
  return {};
}

}  // namespace nexus::net::egress
