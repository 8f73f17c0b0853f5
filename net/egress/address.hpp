// SPDX-License-Identifier: Apache-2.0
// An IPv4 or IPv6 address with a port, and its conversions (sockaddr, text).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace nexus::net::egress {

struct Endpoint {
  int family = 4;  ///< 4 or 6
  std::array<uint8_t, 16> addr{};
  uint16_t port = 0;

  static std::optional<Endpoint> from_sockaddr(const sockaddr* sa);
  /// "10.0.0.1", "2001:db8::1" (no port).
  static std::optional<Endpoint> parse_ip(std::string_view text, uint16_t port = 0);
  /// "10.0.0.1:80", "[::1]:80", or a bare address with `default_port`.
  static std::optional<Endpoint> parse(std::string_view text, uint16_t default_port = 0);
  sockaddr_storage to_sockaddr(socklen_t* len) const;
  std::string ip() const;          ///< "10.0.0.1", "2001:db8::1"
  std::string to_string() const;   ///< "10.0.0.1:80", "[2001:db8::1]:80"
  /// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 address it is.
  Endpoint unmapped() const;
  bool same_ip(const Endpoint& o) const { return family == o.family && addr == o.addr; }
};

}  // namespace nexus::net::egress
