// SPDX-License-Identifier: Apache-2.0
// The vsock header's wire layout and the checks applied to packets from the guest.
#include "vmm/vsock/packet.hpp"

namespace nexus::vmm::vsock {
namespace {

template <class T>
void put_le(uint8_t* p, T v) noexcept {
  for (size_t i = 0; i < sizeof(T); ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

template <class T>
T get_le(const uint8_t* p) noexcept {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v = static_cast<T>(v | static_cast<T>(p[i]) << (8 * i));
  return v;
}

// Byte offsets of the packed header's fields.
constexpr size_t kOffSrcCid = 0, kOffDstCid = 8, kOffSrcPort = 16, kOffDstPort = 20, kOffLen = 24,
                 kOffType = 28, kOffOp = 30, kOffFlags = 32, kOffBufAlloc = 36, kOffFwdCnt = 40;
static_assert(kOffFwdCnt + 4 == kHeaderSize);

}  // namespace

void encode_header(const PacketHeader& h, std::span<uint8_t, kHeaderSize> out) noexcept {
  uint8_t* p = out.data();
  put_le(p + kOffSrcCid, h.src_cid);
  put_le(p + kOffDstCid, h.dst_cid);
  put_le(p + kOffSrcPort, h.src_port);
  put_le(p + kOffDstPort, h.dst_port);
  put_le(p + kOffLen, h.len);
  put_le(p + kOffType, h.type);
  put_le(p + kOffOp, h.op);
  put_le(p + kOffFlags, h.flags);
  put_le(p + kOffBufAlloc, h.buf_alloc);
  put_le(p + kOffFwdCnt, h.fwd_cnt);
}

PacketHeader decode_header(std::span<const uint8_t, kHeaderSize> in) noexcept {
  const uint8_t* p = in.data();
  PacketHeader h;
  h.src_cid = get_le<uint64_t>(p + kOffSrcCid);
  h.dst_cid = get_le<uint64_t>(p + kOffDstCid);
  h.src_port = get_le<uint32_t>(p + kOffSrcPort);
  h.dst_port = get_le<uint32_t>(p + kOffDstPort);
  h.len = get_le<uint32_t>(p + kOffLen);
  h.type = get_le<uint16_t>(p + kOffType);
  h.op = get_le<uint16_t>(p + kOffOp);
  h.flags = get_le<uint32_t>(p + kOffFlags);
  h.buf_alloc = get_le<uint32_t>(p + kOffBufAlloc);
  h.fwd_cnt = get_le<uint32_t>(p + kOffFwdCnt);
  return h;
}

TxCheck check_tx_header(const PacketHeader& h, uint64_t guest_cid, uint64_t payload_bytes) noexcept {
  if (h.src_cid != guest_cid) return {TxVerdict::drop, "source CID is not the guest's"};
  if (h.dst_cid != kHostCid) return {TxVerdict::drop, "destination CID is not the host"};
  TxVerdict bad = h.op == kOpRst ? TxVerdict::drop : TxVerdict::reset;
  if (h.type != kTypeStream) return {bad, "socket type is not STREAM"};
  if (h.len > kMaxPayload) return {bad, "payload longer than 64 KiB"};
  if (h.len > payload_bytes) return {bad, "payload length past the end of the chain"};
  if (h.op < kOpRequest || h.op > kOpCreditRequest) return {TxVerdict::reset, "unknown op"};
  return {TxVerdict::accept, ""};
}

PacketHeader host_header(uint64_t guest_cid, ConnKey key, uint16_t op) noexcept {
  PacketHeader h;
  h.src_cid = kHostCid;
  h.dst_cid = guest_cid;
  h.src_port = key.local_port;
  h.dst_port = key.peer_port;
  h.type = kTypeStream;
  h.op = op;
  return h;
}

}  // namespace nexus::vmm::vsock
