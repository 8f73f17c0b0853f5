// SPDX-License-Identifier: Apache-2.0
#include "net/egress/client_hello.hpp"

#include <fmt/format.h>

#include "net/egress/domain.hpp"

namespace nexus::net::egress {
namespace {

using Status = ClientHelloInfo::Status;

ClientHelloInfo result(Status s, std::string error = {}) {
  ClientHelloInfo r;
  r.status = s;
  r.error = std::move(error);
  return r;
}

// A bounds-checked reader over the reassembled handshake message.
struct Reader {
  std::string_view d;
  size_t pos = 0;
  bool ok = true;
  size_t left() const { return d.size() - pos; }
  uint32_t be(size_t n) {
    if (left() < n) {
      ok = false;
      return 0;
    }
    uint32_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(d[pos + i]);
    pos += n;
    return v;
  }
  std::string_view bytes(size_t n) {
    if (left() < n) {
      ok = false;
      return {};
    }
    auto v = d.substr(pos, n);
    pos += n;
    return v;
  }
};

// Finds host_name in the server_name extension body (RFC 6066 §3).
ClientHelloInfo parse_sni(std::string_view ext) {
  Reader r{ext};
  size_t list_len = r.be(2);
  if (!r.ok || list_len != r.left()) return result(Status::malformed, "bad server_name list length");
  while (r.left() > 0) {
    uint32_t type = r.be(1);
    size_t len = r.be(2);
    std::string_view name = r.bytes(len);
    if (!r.ok) return result(Status::malformed, "server_name entry past its list");
    if (type != 0) continue;
    auto host = normalize_host(name);
    if (!host || host->empty() || is_ip_literal(*host))
      return result(Status::malformed, "the server name is not a valid host name");
    ClientHelloInfo ok = result(Status::ok);
    ok.sni = std::move(*host);
    return ok;
  }
  return result(Status::ok);
}

ClientHelloInfo parse_hello_body(std::string_view body) {
  Reader r{body};
  r.be(2);        // legacy_version
  r.bytes(32);    // random
  size_t sid = r.be(1);
  if (sid > 32) return result(Status::malformed, "session id longer than 32 bytes");
  r.bytes(sid);
  size_t suites = r.be(2);
  if (r.ok && (suites < 2 || suites % 2 != 0)) return result(Status::malformed, "bad cipher suites length");
  r.bytes(suites);
  size_t comp = r.be(1);
  if (r.ok && comp < 1) return result(Status::malformed, "no compression methods");
  r.bytes(comp);
  if (!r.ok) return result(Status::malformed, "ClientHello shorter than its fields");
  if (r.left() == 0) return result(Status::ok);  // no extensions at all: no SNI
  size_t ext_len = r.be(2);
  if (!r.ok || ext_len != r.left()) return result(Status::malformed, "bad extensions length");
  ClientHelloInfo found = result(Status::ok);
  bool seen_sni = false;
  while (r.left() > 0) {
    uint32_t type = r.be(2);
    size_t len = r.be(2);
    std::string_view ext = r.bytes(len);
    if (!r.ok) return result(Status::malformed, "extension past the end of the ClientHello");
    if (type != 0) continue;
    if (seen_sni) return result(Status::malformed, "two server_name extensions");
    seen_sni = true;
    found = parse_sni(ext);
    if (found.status != Status::ok) return found;
  }
  return found;
}

}  // namespace

ClientHelloInfo parse_client_hello(std::string_view data) {
  // Reassemble the handshake message from the records' fragments (RFC 8446 §5.1: a
  // handshake message may be split across records; records hold at most 2^14 bytes).
  std::string hs;
  size_t pos = 0;
  size_t need = 0;  // 0 = the 4-byte handshake header is not complete yet
  while (true) {
    if (data.size() - pos < 5) return result(Status::need_more);
    auto b = [&](size_t i) { return static_cast<uint8_t>(data[pos + i]); };
    if (b(0) != 22) {
      return pos == 0 ? result(Status::not_tls, "not a TLS handshake record")
                      : result(Status::malformed, "a non-handshake record inside the ClientHello");
    }
    if (b(1) != 3) return result(pos == 0 ? Status::not_tls : Status::malformed, "not a TLS record version");
    size_t rec_len = (size_t{b(3)} << 8) | b(4);
    if (rec_len == 0 || rec_len > (1u << 14) + 256)
      return result(Status::malformed, fmt::format("bad TLS record length {}", rec_len));
    size_t have = std::min(rec_len, data.size() - pos - 5);
    hs.append(data.substr(pos + 5, have));
    if (hs.size() >= 4 && need == 0) {
      if (static_cast<uint8_t>(hs[0]) != 1) return result(Status::malformed, "the first handshake message is not a ClientHello");
      size_t len = (size_t{static_cast<uint8_t>(hs[1])} << 16) | (size_t{static_cast<uint8_t>(hs[2])} << 8) |
                   static_cast<uint8_t>(hs[3]);
      if (len > kMaxClientHello)
        return result(Status::too_large, fmt::format("ClientHello of {} bytes (at most {})", len, kMaxClientHello));
      need = len + 4;
    }
    if (need != 0 && hs.size() >= need) {
      if (hs.size() > need) return result(Status::malformed, "data after the ClientHello in its record");
      auto info = parse_hello_body(std::string_view(hs).substr(4, need - 4));
      info.consumed = pos + 5 + rec_len;
      return info;
    }
    if (have < rec_len) return result(Status::need_more);
    pos += 5 + rec_len;
    if (pos > kMaxClientHello + 64 * 5 + 1024) return result(Status::too_large, "ClientHello spread over too many records");
  }
}

}  // namespace nexus::net::egress
