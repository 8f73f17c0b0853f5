// SPDX-License-Identifier: Apache-2.0
// Addresses the forwarder deals in: a client's IP (the key of the registry) and socket
// addresses with ports (listeners, upstream resolvers).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace nexus::net::dns {

/// An IPv4 or IPv6 address without a port. IPv4-mapped IPv6 addresses are folded to IPv4,
/// so a client is the same key whichever socket it came through.
struct IpAddress {
  int family = AF_INET;
  std::array<uint8_t, 16> bytes{};  // IPv4 in the first 4

  static Result<IpAddress> parse(std::string_view text);
  static IpAddress from_sockaddr(const sockaddr* sa);
  std::string to_string() const;
  auto operator<=>(const IpAddress&) const = default;
};

/// An address with a port (and an IPv6 scope for link-local upstreams).
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  /// "192.0.2.1", "192.0.2.1:5353", "2001:db8::1", "[2001:db8::1]:5353", "fe80::1%eth0";
  /// without a port, `default_port`. Errc::invalid_argument naming the text otherwise.
  static Result<SocketAddress> parse(std::string_view text, uint16_t default_port);
  static SocketAddress from(const sockaddr* sa, socklen_t len);
  int family() const { return storage.ss_family; }
  uint16_t port() const;
  IpAddress ip() const { return IpAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&storage)); }
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  /// "192.0.2.1:53", "[2001:db8::1]:53".
  std::string to_string() const;
  /// Same family, address, port (and scope).
  bool operator==(const SocketAddress& o) const;
};

/// The nameservers of a resolv.conf (port 53), in order, at most 8. Errc::not_found when the
/// file cannot be read or lists none.
Result<std::vector<SocketAddress>> resolv_conf_nameservers(const std::string& path = "/etc/resolv.conf");

}  // namespace nexus::net::dns
