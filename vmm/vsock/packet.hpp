// SPDX-License-Identifier: Apache-2.0
// The virtio-vsock packet header (virtio 1.2, 5.10.6): constants, the 44-byte little-endian
// wire layout, and the checks every packet from the guest passes before the muxer sees it.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <span>

namespace nexus::vmm::vsock {

inline constexpr uint64_t kHostCid = 2;
inline constexpr size_t kHeaderSize = 44;
/// Largest payload accepted from the guest or sent to it (Firecracker's limit too).
inline constexpr uint32_t kMaxPayload = 64 * 1024;

inline constexpr uint16_t kTypeStream = 1;
inline constexpr uint16_t kTypeSeqpacket = 2;

inline constexpr uint16_t kOpRequest = 1;
inline constexpr uint16_t kOpResponse = 2;
inline constexpr uint16_t kOpRst = 3;
inline constexpr uint16_t kOpShutdown = 4;
inline constexpr uint16_t kOpRw = 5;
inline constexpr uint16_t kOpCreditUpdate = 6;
inline constexpr uint16_t kOpCreditRequest = 7;

/// OP_SHUTDOWN flags: the sender will receive (RCV) / send (SEND) no more.
inline constexpr uint32_t kShutdownRcv = 1;
inline constexpr uint32_t kShutdownSend = 2;
inline constexpr uint32_t kShutdownBoth = kShutdownRcv | kShutdownSend;

/// The event queue's one event: the guest drops every connection (it keeps listeners).
inline constexpr uint32_t kEventTransportReset = 0;

/// The header, host byte order.
struct PacketHeader {
  uint64_t src_cid = 0;
  uint64_t dst_cid = 0;
  uint32_t src_port = 0;
  uint32_t dst_port = 0;
  uint32_t len = 0;
  uint16_t type = 0;
  uint16_t op = 0;
  uint32_t flags = 0;
  uint32_t buf_alloc = 0;
  uint32_t fwd_cnt = 0;
  bool operator==(const PacketHeader&) const = default;
};

void encode_header(const PacketHeader& h, std::span<uint8_t, kHeaderSize> out) noexcept;
PacketHeader decode_header(std::span<const uint8_t, kHeaderSize> in) noexcept;

/// A connection as the host sees it: our (host-side) port and the guest's port.
struct ConnKey {
  uint32_t local_port = 0;
  uint32_t peer_port = 0;
  auto operator<=>(const ConnKey&) const = default;
};

/// What to do with a packet from the guest.
enum class TxVerdict {
  accept,  ///< well-formed: hand it to the muxer
  drop,    ///< not addressed to us (wrong CIDs) or an RST we must not answer: ignore
  reset,   ///< malformed: answer RST (and close any connection with its ports)
};

struct TxCheck {
  TxVerdict verdict = TxVerdict::accept;
  const char* reason = "";  ///< static text for stats and tests
};

/// Checks a header read from a TX chain. `payload_bytes` is how many bytes the chain holds
/// after the header. Wrong CIDs drop; a bad type, a length past 64 KiB or past the chain, or
/// an unknown op reset (a malformed RST is dropped instead: never answer an RST with one).
TxCheck check_tx_header(const PacketHeader& h, uint64_t guest_cid, uint64_t payload_bytes) noexcept;

/// A header from the host (CID 2) to the guest for connection `key`, type STREAM.
PacketHeader host_header(uint64_t guest_cid, ConnKey key, uint16_t op) noexcept;

}  // namespace nexus::vmm::vsock
