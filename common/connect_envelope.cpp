// SPDX-License-Identifier: Apache-2.0
// Connect envelope framing.
#include "common/connect_envelope.hpp"

#include <fmt/format.h>

namespace nexus::connectrpc {

static uint32_t read_be32(std::string_view s) {
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(s[i])); };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

std::string encode_envelope(uint8_t flags, std::string_view payload) {
  auto n = static_cast<uint32_t>(payload.size());
  std::string out;
  out.reserve(kEnvelopePrefixBytes + payload.size());
  out += static_cast<char>(flags);
  out += static_cast<char>(n >> 24 & 0xff);
  out += static_cast<char>(n >> 16 & 0xff);
  out += static_cast<char>(n >> 8 & 0xff);
  out += static_cast<char>(n & 0xff);
  out.append(payload);
  return out;
}

Result<Envelope> decode_single_envelope(std::string_view body, size_t max_payload) {
  if (body.size() < kEnvelopePrefixBytes)
    return fail(Errc::invalid_argument, "request envelope is truncated");
  auto flags = static_cast<uint8_t>(body[0]);
  if (flags & kEnvelopeCompressed)
    return fail(Errc::invalid_argument, "compressed request envelopes are not supported");
  if (flags != 0) return fail(Errc::invalid_argument, "unexpected request envelope flags");
  uint32_t n = read_be32(body.substr(1, 4));
  if (n > max_payload) return fail(Errc::too_large, "request message is too large");
  if (body.size() - kEnvelopePrefixBytes < n)
    return fail(Errc::invalid_argument, "request envelope is truncated");
  if (body.size() - kEnvelopePrefixBytes > n)
    return fail(Errc::invalid_argument, "more than one request envelope");
  return Envelope{flags, std::string(body.substr(kEnvelopePrefixBytes))};
}

Result<std::optional<Envelope>> EnvelopeReader::next() {
  std::string_view rest = std::string_view(buffer_).substr(offset_);
  if (rest.size() < kEnvelopePrefixBytes) return std::optional<Envelope>();
  auto flags = static_cast<uint8_t>(rest[0]);
  if (flags & ~kEnvelopeEndStream)  // compressed or unknown bits: never sent by a well-behaved peer
    return fail(Errc::protocol, fmt::format("envelope with unsupported flags 0x{:02x}", flags));
  uint32_t n = read_be32(rest.substr(1, 4));
  if (n > max_payload_)
    return fail(Errc::too_large, fmt::format("envelope of {} bytes is over the limit", n));
  if (rest.size() - kEnvelopePrefixBytes < n) return std::optional<Envelope>();
  Envelope e{static_cast<uint8_t>(rest[0]), std::string(rest.substr(kEnvelopePrefixBytes, n))};
  offset_ += kEnvelopePrefixBytes + n;
  if (offset_ == buffer_.size()) {
    buffer_.clear();
    offset_ = 0;
  } else if (offset_ > 64 * 1024) {
    buffer_.erase(0, offset_);
    offset_ = 0;
  }
  return std::optional<Envelope>(std::move(e));
}

Result<void> EnvelopeReader::finish() const {
  if (offset_ != buffer_.size()) return fail(Errc::protocol, "stream ended inside an envelope");
  return {};
}

}  // namespace nexus::connectrpc
