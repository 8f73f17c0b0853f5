// SPDX-License-Identifier: Apache-2.0
// The hybrid-vsock handshake on the host's Unix socket (Firecracker docs/vsock.md): the host
// writes `CONNECT <port>\n`, the VMM answers `OK <local_port>\n` once the guest accepted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace nexus::vmm::vsock {

/// The longest CONNECT line accepted, newline included.
inline constexpr size_t kMaxConnectLine = 32;

/// Parses one line without its '\n': the keyword CONNECT (any case), blanks, a decimal port
/// (0 .. 2^32-2; 2^32-1 is VMADDR_PORT_ANY), optional trailing blanks or '\r'.
Result<uint32_t> parse_connect_line(std::string_view line);

/// `OK <port>\n`.
std::string format_ok_line(uint32_t local_port);

/// Reads a CONNECT line from a non-blocking stream socket without consuming a byte past the
/// newline (the bytes after it belong to the stream). Peeks, so the socket must have no
/// other reader.
class ConnectLineReader {
 public:
  /// Reads what is there: the port once the line is complete, nullopt when more bytes are
  /// needed, an error when the line is malformed or too long, or the peer closed or failed.
  Result<std::optional<uint32_t>> read_from(int fd);

 private:
  std::string line_;  ///< bytes of the line so far, no newline
};

}  // namespace nexus::vmm::vsock
