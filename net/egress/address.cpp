// SPDX-License-Identifier: Apache-2.0
#include "net/egress/address.hpp"

#include <arpa/inet.h>

#include <cstring>

#include "common/strings.hpp"

namespace nexus::net::egress {

std::optional<Endpoint> Endpoint::from_sockaddr(const sockaddr* sa) {
  Endpoint e;
  if (sa->sa_family == AF_INET) {
    const auto* s = reinterpret_cast<const sockaddr_in*>(sa);
    e.family = 4;
    std::memcpy(e.addr.data(), &s->sin_addr, 4);
    e.port = ntohs(s->sin_port);
    return e;
  }
  if (sa->sa_family == AF_INET6) {
    const auto* s = reinterpret_cast<const sockaddr_in6*>(sa);
    e.family = 6;
    std::memcpy(e.addr.data(), &s->sin6_addr, 16);
    e.port = ntohs(s->sin6_port);
    return e;
  }
  return std::nullopt;
}

std::optional<Endpoint> Endpoint::parse_ip(std::string_view text, uint16_t port) {
  std::string t(text);
  Endpoint e;
  e.port = port;
  if (::inet_pton(AF_INET, t.c_str(), e.addr.data()) == 1) {
    e.family = 4;
    return e;
  }
  if (::inet_pton(AF_INET6, t.c_str(), e.addr.data()) == 1) {
    e.family = 6;
    return e;
  }
  return std::nullopt;
}

std::optional<Endpoint> Endpoint::parse(std::string_view text, uint16_t default_port) {
  if (auto e = parse_ip(text, default_port)) return e;
  std::string_view host = text, port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') return std::nullopt;
      port = text.substr(close + 2);
    }
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  uint16_t p = default_port;
  if (!port.empty()) {
    auto v = parse_int(port);
    if (!v || *v < 0 || *v > 65535) return std::nullopt;
    p = static_cast<uint16_t>(*v);
  }
  return parse_ip(host, p);
}

sockaddr_storage Endpoint::to_sockaddr(socklen_t* len) const {
  sockaddr_storage ss{};
  if (family == 4) {
    auto* s = reinterpret_cast<sockaddr_in*>(&ss);
    s->sin_family = AF_INET;
    s->sin_port = htons(port);
    std::memcpy(&s->sin_addr, addr.data(), 4);
    *len = sizeof(sockaddr_in);
  } else {
    auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
    s->sin6_family = AF_INET6;
    s->sin6_port = htons(port);
    std::memcpy(&s->sin6_addr, addr.data(), 16);
    *len = sizeof(sockaddr_in6);
  }
  return ss;
}

std::string Endpoint::ip() const {
  char buf[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(family == 4 ? AF_INET : AF_INET6, addr.data(), buf, sizeof(buf));
  return buf;
}

std::string Endpoint::to_string() const {
  return family == 4 ? ip() + ":" + std::to_string(port) : "[" + ip() + "]:" + std::to_string(port);
}

Endpoint Endpoint::unmapped() const {
  static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (family != 6 || std::memcmp(addr.data(), prefix, 12) != 0) return *this;
  Endpoint e;
  e.family = 4;
  std::memcpy(e.addr.data(), addr.data() + 12, 4);
  e.port = port;
  return e;
}

}  // namespace nexus::net::egress
