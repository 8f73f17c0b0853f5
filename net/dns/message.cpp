// SPDX-License-Identifier: Apache-2.0
// DNS wire format: bounded reading of names, queries and the head of answers.
#include "net/dns/message.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace nexus::net::dns {

namespace {

constexpr uint16_t kFlagQr = 0x8000;
constexpr uint16_t kFlagTc = 0x0200;
constexpr uint16_t kFlagRd = 0x0100;
constexpr uint16_t kFlagRa = 0x0080;
// The additional section of a query holds an OPT record and perhaps a TSIG; more is not a
// query any stub resolver sends.
constexpr uint16_t kMaxQueryAdditional = 4;

unsigned opcode(uint16_t flags) { return (flags >> 11) & 0xF; }

char lower(uint8_t c) {
  return static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
}

// The question name of a query: labels written out, no compression (a query has nothing
// earlier to point at), printable ASCII only (no spaces, controls or bytes past 0x7e: a
// sandbox has no use for them, and names are logged and compared as text).
Result<void> read_query_name(std::span<const uint8_t> msg, size_t& off, std::string& out) {
  out.clear();
  size_t pos = off;
  for (;;) {
    if (pos >= msg.size()) return fail(Errc::protocol, "question name runs past the end of the query");
    uint8_t len = msg[pos];
    if ((len & 0xC0) == 0xC0) return fail(Errc::protocol, "compression pointer in the question of a query");
    if (len & 0xC0) return fail(Errc::protocol, fmt::format("reserved label type 0x{:02x} in the question", len & 0xC0));
    if (len == 0) {
      out.push_back('\0');
      off = pos + 1;
      return {};
    }
    if (pos + 1 + len > msg.size()) return fail(Errc::protocol, "question label runs past the end of the query");
    if (out.size() + 1 + len + 1 > kMaxNameWire)
      return fail(Errc::protocol, "question name longer than 255 octets");
    out.push_back(static_cast<char>(len));
    for (size_t i = pos + 1; i <= pos + len; ++i) {
      uint8_t c = msg[i];
      if (c < 0x21 || c > 0x7e)
        return fail(Errc::protocol, fmt::format("byte 0x{:02x} in a question label (printable ASCII only)", c));
      out.push_back(lower(c));
    }
    pos += 1 + len;
  }
}

struct RecordHead {
  uint16_t type = 0, klass = 0;
  uint32_t ttl = 0;
  size_t rdata = 0, rdlen = 0;
};

Result<RecordHead> read_record(std::span<const uint8_t> msg, size_t& off, std::string* owner) {
  NEXUS_TRY(read_name(msg, off, owner));
  if (off + 10 > msg.size()) return fail(Errc::protocol, "record header runs past the end of the message");
  RecordHead r;
  r.type = get16(msg, off);
  r.klass = get16(msg, off + 2);
  r.ttl = static_cast<uint32_t>(get16(msg, off + 4)) << 16 | get16(msg, off + 6);
  r.rdlen = get16(msg, off + 8);
  r.rdata = off + 10;
  if (r.rdata + r.rdlen > msg.size()) return fail(Errc::protocol, "record data runs past the end of the message");
  off = r.rdata + r.rdlen;
  return r;
}

}  // namespace

Result<void> read_name(std::span<const uint8_t> msg, size_t& off, std::string* out,
                       bool fold_case) {
  if (out) out->clear();
  size_t pos = off;
  // Every pointer must point before the start of what was read so far (the name's start,
  // then the previous pointer's target): the targets strictly decrease, so no loop exists.
  size_t limit = off;
  bool jumped = false;
  int jumps = 0;
  size_t wire = 0;
  for (;;) {
    if (pos >= msg.size()) return fail(Errc::protocol, "name runs past the end of the message");
    uint8_t len = msg[pos];
    if ((len & 0xC0) == 0xC0) {
      if (pos + 1 >= msg.size()) return fail(Errc::protocol, "compression pointer cut short");
      size_t target = static_cast<size_t>(len & 0x3F) << 8 | msg[pos + 1];
      if (target >= limit)
        return fail(Errc::protocol, fmt::format("compression pointer at {} to {} does not point backwards", pos, target));
      if (++jumps > kMaxPointerJumps) return fail(Errc::protocol, "too many compression pointers in one name");
      if (!jumped) off = pos + 2;
      jumped = true;
      limit = target;
      pos = target;
      continue;
    }
    if (len & 0xC0) return fail(Errc::protocol, fmt::format("reserved label type 0x{:02x}", len & 0xC0));
    if (len == 0) {
      if (out) out->push_back('\0');
      if (!jumped) off = pos + 1;
      return {};
    }
    if (pos + 1 + len > msg.size()) return fail(Errc::protocol, "label runs past the end of the message");
    wire += 1 + len;
    if (wire + 1 > kMaxNameWire) return fail(Errc::protocol, "name longer than 255 octets");
    if (out) {
      out->push_back(static_cast<char>(len));
      for (size_t i = pos + 1; i <= pos + len; ++i)
        out->push_back(fold_case ? lower(msg[i]) : static_cast<char>(msg[i]));
    }
    pos += 1 + len;
  }
}

Result<Query> parse_query(std::span<const uint8_t> msg, Transport transport) {
  if (msg.size() < kHeaderSize)
    return fail(Errc::protocol, fmt::format("query of {} bytes is shorter than the 12-byte header", msg.size()));
  size_t hard_limit = transport == Transport::udp ? kMaxUdpEdns : kMaxTcpMessage;
  if (msg.size() > hard_limit)
    return fail(Errc::too_large, fmt::format("query of {} bytes is larger than {}", msg.size(), hard_limit));
  uint16_t flags = get16(msg, 2);
  if (flags & kFlagQr) return fail(Errc::protocol, "message is an answer (QR=1), not a query");
  if (opcode(flags) != 0) return fail(Errc::protocol, fmt::format("opcode {} is not QUERY", opcode(flags)));
  uint16_t qd = get16(msg, 4), an = get16(msg, 6), ns = get16(msg, 8), ar = get16(msg, 10);
  if (qd != 1) return fail(Errc::protocol, fmt::format("QDCOUNT {} (a query asks exactly one question)", qd));
  if (an != 0 || ns != 0)
    return fail(Errc::protocol, fmt::format("query carries {} answer and {} authority records", an, ns));
  if (ar > kMaxQueryAdditional)
    return fail(Errc::protocol, fmt::format("query carries {} additional records (at most {})", ar, kMaxQueryAdditional));

  Query q;
  q.id = get16(msg, 0);
  size_t off = kHeaderSize;
  NEXUS_TRY(read_query_name(msg, off, q.question.name));
  if (off + 4 > msg.size()) return fail(Errc::protocol, "question type and class run past the end of the query");
  q.question.type = get16(msg, off);
  q.question.klass = get16(msg, off + 2);
  off += 4;
  q.question_end = off;
  if (q.question.type == rrtype::opt) return fail(Errc::protocol, "question of type OPT");

  size_t edns_size = 0;
  for (uint16_t i = 0; i < ar; ++i) {
    std::string owner;
    auto rec = read_record(msg, off, &owner);
    if (!rec) return fail(std::move(rec.error()).wrap("additional record of the query"));
    if (rec->type != rrtype::opt) continue;
    if (q.has_edns) return fail(Errc::protocol, "query carries two OPT records");
    if (owner.size() != 1) return fail(Errc::protocol, "OPT record not owned by the root name");
    q.has_edns = true;
    q.edns_size_offset = rec->rdata - 8;
    edns_size = rec->klass;
  }
  if (off != msg.size())
    return fail(Errc::protocol, fmt::format("{} bytes after the last record of the query", msg.size() - off));

  q.max_udp_answer = q.has_edns ? std::clamp<size_t>(edns_size, kMaxUdpPlain, kMaxUdpEdns) : kMaxUdpPlain;
  if (transport == Transport::udp && msg.size() > q.max_udp_answer)
    return fail(Errc::too_large, fmt::format("UDP query of {} bytes is larger than {}", msg.size(), q.max_udp_answer));
  return q;
}

Result<ResponseHead> parse_response_head(std::span<const uint8_t> msg) {
  if (msg.size() < kHeaderSize)
    return fail(Errc::protocol, fmt::format("answer of {} bytes is shorter than the 12-byte header", msg.size()));
  uint16_t flags = get16(msg, 2);
  if (!(flags & kFlagQr)) return fail(Errc::protocol, "message is a query (QR=0), not an answer");
  if (opcode(flags) != 0) return fail(Errc::protocol, fmt::format("answer with opcode {}", opcode(flags)));
  if (get16(msg, 4) != 1) return fail(Errc::protocol, fmt::format("answer with QDCOUNT {}", get16(msg, 4)));
  ResponseHead h;
  h.id = get16(msg, 0);
  h.rcode = static_cast<uint8_t>(flags & 0xF);
  h.truncated = (flags & kFlagTc) != 0;
  size_t off = kHeaderSize;
  NEXUS_TRY(read_name(msg, off, &h.question.name));
  if (off + 4 > msg.size()) return fail(Errc::protocol, "answer's question runs past the end");
  h.question.type = get16(msg, off);
  h.question.klass = get16(msg, off + 2);
  h.question_end = off + 4;
  return h;
}

std::vector<uint8_t> make_error_response(std::span<const uint8_t> query_msg, const Query& query,
                                         uint8_t code) {
  std::vector<uint8_t> out(query_msg.begin(), query_msg.begin() + static_cast<std::ptrdiff_t>(query.question_end));
  uint16_t flags = get16(query_msg, 2);
  put16(out, 2, static_cast<uint16_t>(kFlagQr | (flags & kFlagRd) | kFlagRa | (code & 0xF)));
  put16(out, 6, 0);
  put16(out, 8, 0);
  put16(out, 10, 0);
  return out;
}

std::vector<uint8_t> make_truncated(std::span<const uint8_t> response, size_t question_end) {
  std::vector<uint8_t> out(response.begin(), response.begin() + static_cast<std::ptrdiff_t>(question_end));
  put16(out, 2, static_cast<uint16_t>(get16(out, 2) | kFlagTc));
  put16(out, 6, 0);
  put16(out, 8, 0);
  put16(out, 10, 0);
  return out;
}

Result<std::string> encode_name(std::string_view text) {
  std::string out;
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  while (!text.empty()) {
    size_t dot = text.find('.');
    std::string_view label = text.substr(0, dot);
    if (label.empty() || label.size() > kMaxLabel)
      return fail(Errc::invalid_argument, fmt::format("bad label '{}' in a domain name (1-63 characters)", label));
    out.push_back(static_cast<char>(label.size()));
    for (char c : label) out.push_back(lower(static_cast<uint8_t>(c)));
    text = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
  }
  out.push_back('\0');
  if (out.size() > kMaxNameWire) return fail(Errc::invalid_argument, "domain name longer than 255 octets");
  return out;
}

std::string name_to_text(std::string_view wire) {
  std::string out;
  size_t pos = 0;
  while (pos < wire.size() && wire[pos] != '\0') {
    size_t len = static_cast<uint8_t>(wire[pos]);
    out.append(wire.substr(pos + 1, len));
    out.push_back('.');
    pos += 1 + len;
  }
  return out.empty() ? "." : out;
}

bool name_within(std::string_view name, std::string_view domain) {
  if (domain.size() > name.size()) return false;
  size_t pos = 0;
  // Walk label boundaries only, so "xcorp.example" is not within "corp.example".
  while (pos < name.size()) {
    if (name.size() - pos == domain.size()) return name.substr(pos) == domain;
    if (name.size() - pos < domain.size() || name[pos] == '\0') return false;
    pos += 1 + static_cast<uint8_t>(name[pos]);
  }
  return false;
}

}  // namespace nexus::net::dns
