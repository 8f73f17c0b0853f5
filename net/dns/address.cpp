// SPDX-License-Identifier: Apache-2.0
// Client IPs, socket addresses and resolv.conf's nameservers.
#include "net/dns/address.hpp"

#include <arpa/inet.h>
#include <net/if.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace nexus::net::dns {

namespace {

constexpr size_t kMaxNameservers = 8;

}  // namespace

Result<IpAddress> IpAddress::parse(std::string_view text) {
  std::string s(text);
  IpAddress a;
  if (::inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
    a.family = AF_INET;
    return a;
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_addr = v6;
    return from_sockaddr(reinterpret_cast<const sockaddr*>(&sa));
  }
  return fail(Errc::invalid_argument, fmt::format("'{}' is not an IPv4 or IPv6 address", text));
}

IpAddress IpAddress::from_sockaddr(const sockaddr* sa) {
  IpAddress a;
  if (sa->sa_family == AF_INET) {
    a.family = AF_INET;
    std::memcpy(a.bytes.data(), &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, 4);
  } else if (sa->sa_family == AF_INET6) {
    const auto* s6 = reinterpret_cast<const sockaddr_in6*>(sa);
    if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
      a.family = AF_INET;
      std::memcpy(a.bytes.data(), s6->sin6_addr.s6_addr + 12, 4);
    } else {
      a.family = AF_INET6;
      std::memcpy(a.bytes.data(), s6->sin6_addr.s6_addr, 16);
    }
  } else {
    a.family = AF_UNSPEC;
  }
  return a;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (family == AF_INET || family == AF_INET6) ::inet_ntop(family, bytes.data(), buf, sizeof buf);
  return buf;
}

Result<SocketAddress> SocketAddress::parse(std::string_view text, uint16_t default_port) {
  std::string host(text);
  uint16_t port = default_port;
  auto bad = [&](std::string_view why) {
    return fail(Errc::invalid_argument, fmt::format("bad address '{}': {}", text, why));
  };
  auto parse_port = [&](std::string_view p) -> bool {
    unsigned v = 0;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (ec != std::errc{} || ptr != p.data() + p.size() || v == 0 || v > 65535) return false;
    port = static_cast<uint16_t>(v);
    return true;
  };
  if (!host.empty() && host.front() == '[') {
    size_t close = host.find(']');
    if (close == std::string::npos) return bad("missing ']'");
    std::string rest = host.substr(close + 1);
    host = host.substr(1, close - 1);
    if (!rest.empty() && (rest[0] != ':' || !parse_port(std::string_view(rest).substr(1))))
      return bad("port must be 1-65535 after ']:'");
  } else if (std::count(host.begin(), host.end(), ':') == 1) {
    size_t colon = host.find(':');
    if (!parse_port(std::string_view(host).substr(colon + 1))) return bad("port must be 1-65535");
    host.resize(colon);
  }
  SocketAddress a;
  auto* s4 = reinterpret_cast<sockaddr_in*>(&a.storage);
  if (::inet_pton(AF_INET, host.c_str(), &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    a.length = sizeof(sockaddr_in);
    return a;
  }
  auto* s6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  std::string scope;
  if (size_t pct = host.find('%'); pct != std::string::npos) {
    scope = host.substr(pct + 1);
    host.resize(pct);
  }
  if (::inet_pton(AF_INET6, host.c_str(), &s6->sin6_addr) != 1) return bad("not an IPv4 or IPv6 address");
  s6->sin6_family = AF_INET6;
  s6->sin6_port = htons(port);
  if (!scope.empty()) {
    unsigned idx = ::if_nametoindex(scope.c_str());
    if (idx == 0) {
      auto [ptr, ec] = std::from_chars(scope.data(), scope.data() + scope.size(), idx);
      if (ec != std::errc{} || ptr != scope.data() + scope.size()) return bad("unknown interface after '%'");
    }
    s6->sin6_scope_id = idx;
  }
  a.length = sizeof(sockaddr_in6);
  return a;
}

SocketAddress SocketAddress::from(const sockaddr* sa, socklen_t len) {
  SocketAddress a;
  len = std::min<socklen_t>(len, sizeof(a.storage));
  std::memcpy(&a.storage, sa, len);
  a.length = len;
  return a;
}

uint16_t SocketAddress::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  return 0;
}

std::string SocketAddress::to_string() const {
  if (family() == AF_INET6) return fmt::format("[{}]:{}", ip().to_string(), port());
  return fmt::format("{}:{}", ip().to_string(), port());
}

bool SocketAddress::operator==(const SocketAddress& o) const {
  if (family() != o.family()) return false;
  if (family() == AF_INET) {
    const auto *a = reinterpret_cast<const sockaddr_in*>(&storage), *b = reinterpret_cast<const sockaddr_in*>(&o.storage);
    return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
  }
  if (family() == AF_INET6) {
    const auto *a = reinterpret_cast<const sockaddr_in6*>(&storage), *b = reinterpret_cast<const sockaddr_in6*>(&o.storage);
    return a->sin6_port == b->sin6_port && std::memcmp(&a->sin6_addr, &b->sin6_addr, 16) == 0 &&
           a->sin6_scope_id == b->sin6_scope_id;
  }
  return false;
}

Result<std::vector<SocketAddress>> resolv_conf_nameservers(const std::string& path) {
  std::ifstream in(path);
  if (!in) return fail(Errc::not_found, fmt::format("cannot read {}", path));
  std::vector<SocketAddress> out;
  std::string line;
  while (std::getline(in, line) && out.size() < kMaxNameservers) {
    std::istringstream words(line);
    std::string key, value;
    if (!(words >> key >> value) || key != "nameserver") continue;
    // resolv.conf has no port syntax; an address it names is always port 53.
    auto a = SocketAddress::parse(value.find(':') != std::string::npos && value.front() != '[' ? "[" + value + "]" : value, 53);
    if (a) out.push_back(*a);
  }
  if (out.empty()) return fail(Errc::not_found, fmt::format("{} lists no usable nameserver", path));
  return out;
}

}  // namespace nexus::net::dns
