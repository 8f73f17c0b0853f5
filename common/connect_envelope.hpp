// SPDX-License-Identifier: Apache-2.0
// Connect protocol envelopes: 1 flag byte, 4-byte big-endian length, payload.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace nexus::connectrpc {

constexpr uint8_t kEnvelopeCompressed = 0x01;
constexpr uint8_t kEnvelopeEndStream = 0x02;
constexpr size_t kEnvelopePrefixBytes = 5;

struct Envelope {
  uint8_t flags = 0;
  std::string payload;
};

/// Frame `payload` with `flags`.
std::string encode_envelope(uint8_t flags, std::string_view payload);

/// Decode a request body that must hold exactly one uncompressed envelope whose payload
/// is at most `max_payload` bytes.
Result<Envelope> decode_single_envelope(std::string_view body, size_t max_payload);

/// Incremental decoder for a stream of envelopes (used by clients and tests).
class EnvelopeReader {
 public:
  explicit EnvelopeReader(size_t max_payload) : max_payload_(max_payload) {}
  /// Append received bytes.
  void feed(std::string_view data) { buffer_.append(data); }
  /// The next complete envelope, nullopt if more bytes are needed, or an error when the
  /// announced length is over the limit.
  Result<std::optional<Envelope>> next();
  /// At end of input: an error if a partial envelope is left over.
  Result<void> finish() const;

 private:
  size_t max_payload_;
  std::string buffer_;
  size_t offset_ = 0;
};

}  // namespace nexus::connectrpc
