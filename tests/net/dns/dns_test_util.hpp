// SPDX-License-Identifier: Apache-2.0
// Helpers for the DNS tests: messages from hex or built by hand, and a decoder that lists an
// answer's records as text so a test can say what a sandbox would see.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "net/dns/message.hpp"

namespace dnstest {

inline std::vector<uint8_t> from_hex(const std::string& hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

/// Builds a message byte by byte.
struct Builder {
  std::vector<uint8_t> b;
  Builder& u8(uint8_t v) { b.push_back(v); return *this; }
  Builder& u16(uint16_t v) { b.push_back(static_cast<uint8_t>(v >> 8)); b.push_back(static_cast<uint8_t>(v)); return *this; }
  Builder& u32(uint32_t v) { u16(static_cast<uint16_t>(v >> 16)); return u16(static_cast<uint16_t>(v)); }
  Builder& header(uint16_t id, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar) {
    return u16(id).u16(flags).u16(qd).u16(an).u16(ns).u16(ar);
  }
  Builder& name(const std::string& dotted) {
    size_t pos = 0;
    while (pos < dotted.size()) {
      size_t dot = dotted.find('.', pos);
      if (dot == std::string::npos) dot = dotted.size();
      u8(static_cast<uint8_t>(dot - pos));
      for (size_t i = pos; i < dot; ++i) u8(static_cast<uint8_t>(dotted[i]));
      pos = dot + 1;
    }
    return u8(0);
  }
  Builder& pointer(uint16_t off) { return u16(static_cast<uint16_t>(0xC000 | off)); }
  Builder& question(const std::string& n, uint16_t type = 1) { return name(n).u16(type).u16(1); }
  Builder& opt(uint16_t udp_size) { return u8(0).u16(41).u16(udp_size).u32(0).u16(0); }
  /// A record owned by a pointer to the question name (offset 12).
  Builder& a(const uint8_t (&addr)[4], uint32_t ttl = 60) {
    pointer(12).u16(1).u16(1).u32(ttl).u16(4);
    for (uint8_t x : addr) u8(x);
    return *this;
  }
  std::vector<uint8_t> done() const { return b; }
};

inline std::vector<uint8_t> query(const std::string& name, uint16_t type = 1, uint16_t id = 0x4242) {
  return Builder().header(id, 0x0100, 1, 0, 0, 0).question(name, type).done();
}

/// "owner type data" per record, e.g. "mixed.test. A 198.51.100.7", "alias.test. CNAME mixed.test.".
inline std::vector<std::string> records(const std::vector<uint8_t>& m) {
  using namespace nexus::net::dns;
  std::vector<std::string> out;
  size_t off = kHeaderSize;
  std::string name;
  if (!read_name(m, off, &name)) return {"<bad question>"};
  off += 4;
  size_t total = static_cast<size_t>(get16(m, 6)) + get16(m, 8) + get16(m, 10);
  for (size_t i = 0; i < total; ++i) {
    if (!read_name(m, off, &name) || off + 10 > m.size()) return {"<bad record>"};
    uint16_t type = get16(m, off), rdlen = get16(m, off + 8);
    size_t rd = off + 10;
    off = rd + rdlen;
    if (off > m.size()) return {"<bad rdata>"};
    std::string line = name_to_text(name) + " ";
    if (type == 1 && rdlen == 4) {
      line += "A " + std::to_string(m[rd]) + "." + std::to_string(m[rd + 1]) + "." + std::to_string(m[rd + 2]) + "." + std::to_string(m[rd + 3]);
    } else if (type == 28 && rdlen == 16) {
      char buf[64];
      std::string hex;
      for (int k = 0; k < 16; k += 2) {
        std::snprintf(buf, sizeof buf, "%x", m[rd + k] << 8 | m[rd + k + 1]);
        hex += (k ? ":" : "") + std::string(buf);
      }
      line += "AAAA " + hex;
    } else if (type == 5) {
      size_t p = rd;
      std::string target;
      if (!read_name(m, p, &target)) return {"<bad cname>"};
      line += "CNAME " + name_to_text(target);
    } else if (type == 41) {
      line += "OPT";
    } else {
      line += "TYPE" + std::to_string(type);
    }
    out.push_back(line);
  }
  if (off != m.size()) out.push_back("<trailing bytes>");
  return out;
}

}  // namespace dnstest
