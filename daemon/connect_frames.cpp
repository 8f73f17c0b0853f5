// SPDX-License-Identifier: Apache-2.0
// Connect envelope decoding with bounds checks.
#include "daemon/connect_frames.hpp"

#include <fmt/format.h>

namespace nexus::daemon {

Result<void> ConnectFrameDecoder::feed(std::string_view data, std::vector<ConnectFrame>& out) {
  if (failed_) return fail(Errc::protocol, "agent stream already failed");
  buf_.append(data);
  size_t pos = 0;
  while (buf_.size() - pos >= 5) {
    auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(buf_[pos + i])); };
    uint8_t flags = static_cast<uint8_t>(b(0));
    uint32_t len = b(1) << 24 | b(2) << 16 | b(3) << 8 | b(4);
    if (flags & ~0x03u || flags & 0x01u) {
      failed_ = true;
      return fail(Errc::protocol, fmt::format("agent sent an envelope with unsupported flags 0x{:02x}", flags));
    }
    if (len > max_payload_) {
      failed_ = true;
      return fail(Errc::protocol, fmt::format("agent sent a {} byte envelope (limit {})", len, max_payload_));
    }
    if (buf_.size() - pos - 5 < len) break;
    out.push_back(ConnectFrame{flags, buf_.substr(pos + 5, len)});
    pos += 5 + len;
  }
  buf_.erase(0, pos);
  return {};
}

std::string encode_connect_frame(std::string_view payload, uint8_t flags) {
  std::string out;
  out.reserve(payload.size() + 5);
  auto len = static_cast<uint32_t>(payload.size());
  out += static_cast<char>(flags);
  out += static_cast<char>(len >> 24 & 0xff);
  out += static_cast<char>(len >> 16 & 0xff);
  out += static_cast<char>(len >> 8 & 0xff);
  out += static_cast<char>(len & 0xff);
  out.append(payload);
  return out;
}

}  // namespace nexus::daemon
