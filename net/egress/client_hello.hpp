// SPDX-License-Identifier: Apache-2.0
// Reading the server name (SNI) out of a TLS ClientHello without decrypting anything. The
// input is the first bytes a sandbox sent to port 443, possibly cut anywhere and possibly
// spread over several TLS records; everything in it is hostile and bounded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace nexus::net::egress {

/// The largest ClientHello handshake message accepted (a real one is 200 bytes to ~2 KiB;
/// post-quantum key shares bring it near 2 KiB more).
inline constexpr size_t kMaxClientHello = 16 * 1024;

struct ClientHelloInfo {
  enum class Status {
    need_more,  ///< a prefix of a valid ClientHello: read more bytes
    ok,         ///< complete; `sni` is the server name or empty when the client sent none
    not_tls,    ///< the bytes are not a TLS handshake record
    malformed,  ///< a TLS record, but a broken ClientHello (reason in `error`)
    too_large,  ///< the ClientHello claims more than kMaxClientHello bytes
  };
  Status status = Status::need_more;
  std::string sni;    ///< normalized (lower case, no trailing dot)
  std::string error;  ///< what was wrong, for the audit
  size_t consumed = 0;  ///< bytes of records holding the ClientHello (when ok)
};

/// Parses `data`, all bytes received so far. Call again with more bytes after need_more.
ClientHelloInfo parse_client_hello(std::string_view data);

}  // namespace nexus::net::egress
