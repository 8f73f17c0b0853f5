// SPDX-License-Identifier: Apache-2.0
// Incremental decoder for Connect streaming envelopes read from a sandbox agent.
//
// Envelope: 1 flag byte, 4-byte big-endian length, payload (e2b-protocol.md C.1). The agent
// runs inside the sandbox and is untrusted: lengths are bounded, garbage is an error.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace nexus::daemon {

struct ConnectFrame {
  uint8_t flags = 0;  ///< 0x02 marks the end-of-stream message
  std::string payload;
  bool end_of_stream() const { return flags & 0x02; }
};

class ConnectFrameDecoder {
 public:
  explicit ConnectFrameDecoder(size_t max_payload = 16 * 1024 * 1024) : max_payload_(max_payload) {}
  /// Feed bytes; complete frames are appended to `out`. An error is sticky.
  Result<void> feed(std::string_view data, std::vector<ConnectFrame>& out);
  /// True if no partial frame is buffered.
  bool idle() const { return buf_.empty(); }

 private:
  size_t max_payload_;
  std::string buf_;
  bool failed_ = false;
};

/// Encode one envelope (used for requests to the agent).
std::string encode_connect_frame(std::string_view payload, uint8_t flags = 0);

}  // namespace nexus::daemon
