// SPDX-License-Identifier: Apache-2.0
// Protection against DNS rebinding, like dnsmasq's --stop-dns-rebind: A and AAAA records that
// put a public name on a private, loopback, link-local or metadata address are removed from
// answers before a sandbox sees them, so a page or a tool in the sandbox cannot be pointed at
// the host's or the network's internal services through an outside name. Names within the
// operator's local domains keep such answers.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace nexus::net::dns {

/// 0/8, 10/8, 100.64/10, 127/8, 169.254/16 (metadata 169.254.169.254 included), 172.16/12,
/// 192.0.0/24, 192.168/16, 198.18/15, 224/4 and 240/4 (broadcast included).
bool is_private_v4(const uint8_t (&a)[4]);
/// ::, ::1, fc00::/7 (ULA, with fd00:ec2::254), fe80::/10, fec0::/10, ff00::/8, and the IPv4
/// forms (::ffff:0:0/96 mapped, 64:ff9b::/96 NAT64, ::/96 compatible) of a private IPv4 address.
bool is_private_v6(const uint8_t (&a)[16]);

struct FilterResult {
  /// The rewritten answer; empty when nothing was removed (send the original).
  std::vector<uint8_t> message;
  unsigned removed = 0;
};

/// Parses the whole answer (bounded, see read_name) and removes every A/AAAA record of the
/// IN class with a private address from all three sections, unless the question's name is
/// within one of `local_domains` (lowercased wire form). The remaining records are written
/// back with their names recompressed; rdata names of the RFC 1035 types are rewritten,
/// other rdata is copied. A malformed answer is Errc::protocol.
Result<FilterResult> strip_private_answers(std::span<const uint8_t> answer,
                                           const std::vector<std::string>& local_domains);

}  // namespace nexus::net::dns
