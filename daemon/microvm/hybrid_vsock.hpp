// SPDX-License-Identifier: Apache-2.0
// Firecracker's hybrid vsock, host side: connect to the VMM's Unix socket, write
// "CONNECT <port>\n", read "OK <n>\n"; then the socket is a byte stream to that guest port.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/http.hpp"
#include "common/result.hpp"

namespace nexus::microvm {

/// The longest reply line accepted ("OK 4294967295\r\n" is 15 bytes).
inline constexpr size_t kMaxConnectReply = 64;

/// The request line for guest port `port`, with its '\n'.
std::string connect_request(uint32_t port);
/// Check a reply line (without its '\n'): "OK <n>" with n a decimal uint32 (a trailing '\r'
/// is tolerated). Returns n, the host side's port number; anything else is Errc::protocol.
Result<uint32_t> parse_connect_reply(std::string_view line);
/// An HTTP endpoint for guest port `port` behind the hybrid vsock socket `uds`.
http::Endpoint vsock_endpoint(const std::string& uds, uint32_t port);

}  // namespace nexus::microvm
