// SPDX-License-Identifier: Apache-2.0
// Range header parsing.
#include "guest-agent/byte_range.hpp"

#include <charconv>

#include "common/strings.hpp"

namespace nexus::agent {
namespace {

bool parse_u64(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

ByteRange parse_byte_range(std::string_view header, uint64_t size) {
  ByteRange whole;
  header = trim(header);
  constexpr std::string_view kUnit = "bytes=";
  if (header.size() <= kUnit.size() || !iequals(header.substr(0, kUnit.size()), kUnit)) return whole;
  std::string_view spec = trim(header.substr(kUnit.size()));
  if (spec.find(',') != std::string_view::npos) return whole;  // several ranges: the whole file
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return whole;
  std::string_view first = trim(spec.substr(0, dash)), last = trim(spec.substr(dash + 1));
  ByteRange r;
  r.kind = ByteRange::Kind::partial;
  uint64_t a = 0, b = 0;
  if (first.empty()) {  // "-n": the last n bytes
    if (!parse_u64(last, b)) return whole;
    if (b == 0 || size == 0) return ByteRange{ByteRange::Kind::unsatisfiable};
    r.length = b < size ? b : size;
    r.start = size - r.length;
    return r;
  }
  if (!parse_u64(first, a)) return whole;
  if (last.empty()) {
    b = size == 0 ? 0 : size - 1;
  } else if (!parse_u64(last, b) || b < a) {
    return whole;
  }
  if (a >= size) return ByteRange{ByteRange::Kind::unsatisfiable};
  if (b >= size) b = size - 1;
  r.start = a;
  r.length = b - a + 1;
  return r;
}

}  // namespace nexus::agent
