// SPDX-License-Identifier: Apache-2.0
// DNS wire format (RFC 1035, 6891): the bounded parsing the forwarder needs. Every message a
// sandbox sends, and every answer an upstream returns, is treated as hostile: sizes, counts,
// labels and compression pointers are checked, and nothing is read past the end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace nexus::net::dns {

inline constexpr size_t kHeaderSize = 12;
/// A UDP message without EDNS (RFC 1035 §4.2.1).
inline constexpr size_t kMaxUdpPlain = 512;
/// The largest UDP message accepted or relayed, whatever EDNS says.
inline constexpr size_t kMaxUdpEdns = 4096;
/// TCP messages carry a 16-bit length prefix.
inline constexpr size_t kMaxTcpMessage = 65535;
/// A name in wire form, length octets and the root label included (RFC 1035 §3.1).
inline constexpr size_t kMaxNameWire = 255;
inline constexpr size_t kMaxLabel = 63;
/// Compression pointers followed while reading one name; each must point further back than
/// the one before, so this only bounds the work, loops are impossible anyway.
inline constexpr int kMaxPointerJumps = 64;

enum class Transport { udp, tcp };

namespace rcode {
inline constexpr uint8_t noerror = 0, formerr = 1, servfail = 2, nxdomain = 3, notimp = 4,
                         refused = 5;
}
namespace rrtype {
inline constexpr uint16_t a = 1, ns = 2, md = 3, mf = 4, cname = 5, soa = 6, mb = 7, mg = 8,
                          mr = 9, ptr = 12, minfo = 14, mx = 15, rp = 17, afsdb = 18, rt = 21,
                          px = 26, aaaa = 28, srv = 33, kx = 36, dname = 39, opt = 41,
                          ixfr = 251, axfr = 252;
}
inline constexpr uint16_t kClassIn = 1;

/// A question: the name in wire form, lowercased (ASCII), uncompressed, ending in the root
/// label; compared exactly (so the comparison is case-insensitive).
struct Question {
  std::string name;
  uint16_t type = 0;
  uint16_t klass = 0;
  bool operator==(const Question&) const = default;
};

/// A sandbox's query that passed validation.
struct Query {
  uint16_t id = 0;
  Question question;
  size_t question_end = 0;  ///< offset after the question: [12, question_end) is its wire form
  bool has_edns = false;
  /// Offset of the OPT record's CLASS (the client's UDP size), 0 without EDNS.
  size_t edns_size_offset = 0;
  /// The largest UDP answer the client takes: 512, or its EDNS size within [512, 4096].
  size_t max_udp_answer = kMaxUdpPlain;
};

/// Checks a query from a sandbox: a full header, QR=0, opcode QUERY, QDCOUNT 1, no answer or
/// authority records, at most a few additional ones (one OPT at most), a question name of
/// printable ASCII labels of 1-63 octets without compression, nothing after the last record,
/// and the size limit of the transport (UDP: 512 bytes, or the EDNS size up to 4096).
/// Errc::protocol (or too_large) names what was wrong.
Result<Query> parse_query(std::span<const uint8_t> msg, Transport transport);

/// Reads a name at `off` (compression pointers followed only strictly backwards, at most
/// kMaxPointerJumps, the whole name at most 255 octets) into `out` in uncompressed wire form
/// (lowercased unless `fold_case` is false) when `out` is given, and moves `off` past the
/// name's bytes at that position.
Result<void> read_name(std::span<const uint8_t> msg, size_t& off, std::string* out,
                       bool fold_case = true);

/// "a.test." -> "\1a\4test\0", lowercased; "." or "" is the root. Errc::invalid_argument for an
/// empty or over-long label or name.
Result<std::string> encode_name(std::string_view text);
/// The wire name back as text ("a.test."), for messages and statistics.
std::string name_to_text(std::string_view wire);
/// True when `name` is `domain` or below it (both lowercased wire form).
bool name_within(std::string_view name, std::string_view domain);

inline uint16_t get16(std::span<const uint8_t> m, size_t off) {
  return static_cast<uint16_t>(m[off] << 8 | m[off + 1]);
}
inline void put16(std::span<uint8_t> m, size_t off, uint16_t v) {
  m[off] = static_cast<uint8_t>(v >> 8);
  m[off + 1] = static_cast<uint8_t>(v);
}

/// The start of an upstream's answer: enough to match it to the query it answers.
struct ResponseHead {
  uint16_t id = 0;
  uint8_t rcode = 0;
  bool truncated = false;
  Question question;
  size_t question_end = 0;
};

/// Checks an answer's header (QR=1, opcode QUERY, QDCOUNT 1) and reads its question.
Result<ResponseHead> parse_response_head(std::span<const uint8_t> msg);

/// An answer made here for `query`: its ID and question, RD copied, RA set, the given rcode,
/// no records (REFUSED for a sandbox without DNS, SERVFAIL when every upstream failed).
std::vector<uint8_t> make_error_response(std::span<const uint8_t> query_msg, const Query& query,
                                         uint8_t rcode);

/// The header and question of an answer, counts zeroed, TC set: what a UDP client gets when
/// the real answer does not fit its limit or cannot be read past the question, so it retries
/// over TCP.
std::vector<uint8_t> make_truncated(std::span<const uint8_t> response, size_t question_end);

}  // namespace nexus::net::dns
