// SPDX-License-Identifier: Apache-2.0
// Rebinding protection: private A/AAAA records out of answers for outside names.
#include "net/dns/rebind_filter.hpp"

#include <cstring>
#include <map>

#include "net/dns/message.hpp"

namespace nexus::net::dns {

namespace {

bool in4(const uint8_t (&a)[4], uint32_t net, int bits) {
  uint32_t v = static_cast<uint32_t>(a[0]) << 24 | a[1] << 16 | a[2] << 8 | a[3];
  uint32_t mask = bits == 0 ? 0 : ~uint32_t{0} << (32 - bits);
  return (v & mask) == net;
}

bool prefix6(const uint8_t (&a)[16], std::initializer_list<uint8_t> bytes, int bits) {
  int i = 0;
  for (uint8_t b : bytes) {
    int take = std::min(8, bits - i * 8);
    if (take <= 0) break;
    uint8_t mask = static_cast<uint8_t>(0xFF << (8 - take));
    if ((a[i] & mask) != (b & mask)) return false;
    ++i;
  }
  return true;
}

// How each record type's rdata holds names, so that they survive the rewrite (their
// compression pointers point into the old message). RFC 3597 §4: only the RFC 1035 types may
// be compressed when written; the others are read compressed or not and written plainly.
struct RdataShape {
  size_t prefix = 0;   // fixed octets before the names
  int names = 0;
  size_t suffix = 0;   // fixed octets after the names
  bool compress = false;
};

bool shape_of(uint16_t type, RdataShape& s) {
  switch (type) {
    case rrtype::ns: case rrtype::md: case rrtype::mf: case rrtype::cname: case rrtype::mb:
    case rrtype::mg: case rrtype::mr: case rrtype::ptr:
      s = {0, 1, 0, true}; return true;
    case rrtype::dname: s = {0, 1, 0, false}; return true;
    case rrtype::soa: s = {0, 2, 20, true}; return true;
    case rrtype::minfo: s = {0, 2, 0, true}; return true;
    case rrtype::rp: s = {0, 2, 0, false}; return true;
    case rrtype::mx: s = {2, 1, 0, true}; return true;
    case rrtype::afsdb: case rrtype::rt: case rrtype::kx: s = {2, 1, 0, false}; return true;
    case rrtype::px: s = {2, 2, 0, false}; return true;
    case rrtype::srv: s = {6, 1, 0, false}; return true;
    default: return false;
  }
}

struct Record {
  std::string owner;  // case kept
  uint16_t type = 0, klass = 0;
  size_t fixed = 0;   // offset of type/class/ttl (8 octets)
  size_t rdata = 0, rdlen = 0;
  bool drop = false;
};

// Writes names with compression against the suffixes already written (exact case).
class Writer {
 public:
  std::vector<uint8_t> out;

  void bytes(std::span<const uint8_t> b) { out.insert(out.end(), b.begin(), b.end()); }
  void u16(uint16_t v) {
    out.push_back(static_cast<uint8_t>(v >> 8));
    out.push_back(static_cast<uint8_t>(v));
  }
  void name(const std::string& wire, bool compress) {
    size_t pos = 0;
    while (pos < wire.size() && wire[pos] != '\0') {
      std::string suffix = wire.substr(pos);
      if (compress) {
        if (auto it = offsets_.find(suffix); it != offsets_.end()) {
          u16(static_cast<uint16_t>(0xC000 | it->second));
          return;
        }
      }
      if (out.size() < 0x4000) offsets_.emplace(std::move(suffix), static_cast<uint16_t>(out.size()));
      size_t len = static_cast<uint8_t>(wire[pos]);
      out.insert(out.end(), wire.begin() + static_cast<std::ptrdiff_t>(pos),
                 wire.begin() + static_cast<std::ptrdiff_t>(pos + 1 + len));
      pos += 1 + len;
    }
    out.push_back(0);
  }

 private:
  std::map<std::string, uint16_t> offsets_;
};

Result<void> write_rdata(Writer& w, std::span<const uint8_t> msg, const Record& r) {
  RdataShape shape;
  if (!shape_of(r.type, shape)) {
    w.bytes(msg.subspan(r.rdata, r.rdlen));
    return {};
  }
  size_t end = r.rdata + r.rdlen;
  if (shape.prefix > r.rdlen) return fail(Errc::protocol, "record data shorter than its type needs");
  w.bytes(msg.subspan(r.rdata, shape.prefix));
  size_t off = r.rdata + shape.prefix;
  for (int i = 0; i < shape.names; ++i) {
    std::string name;
    NEXUS_TRY(read_name(msg.first(end), off, &name, false));
    w.name(name, shape.compress);
  }
  if (off + shape.suffix != end) return fail(Errc::protocol, "record data does not match its type's layout");
  w.bytes(msg.subspan(off, shape.suffix));
  return {};
}

}  // namespace

bool is_private_v4(const uint8_t (&a)[4]) {
  return in4(a, 0x00000000, 8) || in4(a, 0x0A000000, 8) || in4(a, 0x64400000, 10) ||
         in4(a, 0x7F000000, 8) || in4(a, 0xA9FE0000, 16) || in4(a, 0xAC100000, 12) ||
         in4(a, 0xC0000000, 24) || in4(a, 0xC0A80000, 16) || in4(a, 0xC6120000, 15) ||
         in4(a, 0xE0000000, 4) || in4(a, 0xF0000000, 4);
}

bool is_private_v6(const uint8_t (&a)[16]) {
  static constexpr uint8_t kZero[16] = {};
  if (std::memcmp(a, kZero, 15) == 0 && (a[15] == 0 || a[15] == 1)) return true;
  if (prefix6(a, {0xfc}, 7) || prefix6(a, {0xfe, 0x80}, 10) || prefix6(a, {0xfe, 0xc0}, 10) ||
      prefix6(a, {0xff}, 8))
    return true;
  // IPv4 inside IPv6: the embedded address decides.
  bool mapped = std::memcmp(a, kZero, 10) == 0 && a[10] == 0xff && a[11] == 0xff;
  bool compat = std::memcmp(a, kZero, 12) == 0;
  static constexpr uint8_t kNat64[12] = {0x00, 0x64, 0xff, 0x9b};
  bool nat64 = std::memcmp(a, kNat64, 12) == 0;
  if (mapped || compat || nat64) {
    const uint8_t v4[4] = {a[12], a[13], a[14], a[15]};
    return is_private_v4(v4);
  }
  return false;
}

Result<FilterResult> strip_private_answers(std::span<const uint8_t> msg,
                                           const std::vector<std::string>& local_domains) {
  auto head = parse_response_head(msg);
  if (!head) return fail(std::move(head.error()));
  for (const auto& d : local_domains)
    if (name_within(head->question.name, d)) return FilterResult{};

  uint16_t counts[3] = {get16(msg, 6), get16(msg, 8), get16(msg, 10)};
  std::vector<Record> records;
  size_t off = head->question_end;
  unsigned removed = 0;
  uint16_t kept[3] = {};
  for (int section = 0; section < 3; ++section) {
    for (uint16_t i = 0; i < counts[section]; ++i) {
      // Every record takes at least 11 octets, so a huge count ends at the message's end.
      Record r;
      NEXUS_TRY(read_name(msg, off, &r.owner, false));
      if (off + 10 > msg.size()) return fail(Errc::protocol, "record header runs past the end of the answer");
      r.fixed = off;
      r.type = get16(msg, off);
      r.klass = get16(msg, off + 2);
      r.rdlen = get16(msg, off + 8);
      r.rdata = off + 10;
      if (r.rdata + r.rdlen > msg.size()) return fail(Errc::protocol, "record data runs past the end of the answer");
      off = r.rdata + r.rdlen;
      if (r.klass == kClassIn && r.type == rrtype::a && r.rdlen == 4) {
        uint8_t a[4];
        std::memcpy(a, &msg[r.rdata], 4);
        r.drop = is_private_v4(a);
      } else if (r.klass == kClassIn && r.type == rrtype::aaaa && r.rdlen == 16) {
        uint8_t a[16];
        std::memcpy(a, &msg[r.rdata], 16);
        r.drop = is_private_v6(a);
      }
      if (r.drop) {
        ++removed;
      } else {
        ++kept[section];
      }
      records.push_back(std::move(r));
    }
  }
  if (off != msg.size()) return fail(Errc::protocol, "bytes after the last record of the answer");
  if (removed == 0) return FilterResult{};

  Writer w;
  w.bytes(msg.first(6));
  for (uint16_t k : kept) w.u16(k);
  {
    size_t qoff = kHeaderSize;
    std::string qname;
    NEXUS_TRY(read_name(msg, qoff, &qname, false));
    w.name(qname, true);
    w.bytes(msg.subspan(qoff, 4));
  }
  for (const Record& r : records) {
    if (r.drop) continue;
    w.name(r.owner, true);
    w.bytes(msg.subspan(r.fixed, 8));  // type, class, TTL
    size_t len_at = w.out.size();
    w.u16(0);
    NEXUS_TRY(write_rdata(w, msg, r));
    size_t rdlen = w.out.size() - len_at - 2;
    if (rdlen > 0xFFFF) return fail(Errc::too_large, "rewritten record data too large");
    put16(w.out, len_at, static_cast<uint16_t>(rdlen));
  }
  return FilterResult{std::move(w.out), removed};
}

}  // namespace nexus::net::dns
