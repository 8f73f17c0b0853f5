// SPDX-License-Identifier: Apache-2.0
// Hybrid vsock preamble.
#include "daemon/microvm/hybrid_vsock.hpp"

#include <fmt/format.h>

namespace nexus::microvm {
namespace {

// The reply comes from the VMM, which a guest may have subverted: show it printable and short.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 48)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > 48) out += "...";
  return out;
}

}  // namespace

std::string connect_request(uint32_t port) { return fmt::format("CONNECT {}\n", port); }

Result<uint32_t> parse_connect_reply(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  auto bad = [&] {
    return fail(Errc::protocol, fmt::format("unexpected hybrid vsock reply '{}' (expected 'OK <port>')", printable(line)));
  };
  if (line.size() < 4 || line.substr(0, 3) != "OK ") return bad();
  std::string_view digits = line.substr(3);
  if (digits.empty() || digits.size() > 10) return bad();
  uint64_t n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return bad();
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  if (n > UINT32_MAX) return bad();
  return static_cast<uint32_t>(n);
}

http::Endpoint vsock_endpoint(const std::string& uds, uint32_t port) {
  auto hs = std::make_shared<http::Handshake>();
  hs->send = connect_request(port);
  hs->max_reply = kMaxConnectReply;
  hs->check = [](std::string_view line) -> Result<void> {
    if (auto r = parse_connect_reply(line); !r) return fail(std::move(r).error());
    return {};
  };
  http::Endpoint e = http::Endpoint::unix_socket(uds);
  e.handshake = std::move(hs);
  return e;
}

}  // namespace nexus::microvm
