// SPDX-License-Identifier: Apache-2.0
// The virtio part of vsock: config space, activation, and moving packets between the
// guest's RX/TX/event queues and the muxer.
#include "vmm/vsock/device.hpp"

#include <algorithm>
#include <array>

namespace nexus::vmm::vsock {

Result<std::unique_ptr<VsockDevice>> VsockDevice::create(uint64_t guest_cid, std::string uds_path,
                                                         MuxerOptions options) {
  if (guest_cid < 3 || guest_cid > 0xFFFFFFFEull)
    return fail(Errc::invalid_argument, "vsock: guest CID must be in [3, 2^32 - 2]");
  auto muxer = Muxer::create(guest_cid, std::move(uds_path), options);
  if (!muxer) return fail(std::move(muxer).error());
  return std::unique_ptr<VsockDevice>(new VsockDevice(guest_cid, std::move(*muxer)));
}

VsockDevice::VsockDevice(uint64_t guest_cid, std::unique_ptr<Muxer> muxer)
    : guest_cid_(guest_cid), muxer_(std::move(muxer)) {
  tx_payload_.reserve(kMaxPayload);
  rx_payload_.reserve(kMaxPayload);
}

VsockDevice::~VsockDevice() { reset(); }

uint64_t VsockDevice::features() const {
  return virtio::kFeatureVersion1 | virtio::kFeatureRingEventIdx;
}

void VsockDevice::read_config(uint64_t offset, void* data, size_t len) const {
  std::array<uint8_t, 8> cfg{};
  for (size_t i = 0; i < cfg.size(); ++i) cfg[i] = static_cast<uint8_t>(guest_cid_ >> (8 * i));
  auto* out = static_cast<uint8_t*>(data);
  for (size_t i = 0; i < len; ++i)
    out[i] = offset < cfg.size() && i < cfg.size() - offset ? cfg[offset + i] : 0;
}

Result<void> VsockDevice::activate(const virtio::ActivateContext& ctx) {
  if (activated()) return fail(Errc::conflict, "vsock: already active");
  if (!ctx.memory || !ctx.queues || ctx.queues->size() != queue_count() || !ctx.interrupt ||
      !ctx.loop)
    return fail(Errc::invalid_argument, "vsock: activation needs memory, 3 queues, an "
                                        "interrupt and an event loop");
  if (auto r = muxer_->attach(*ctx.loop, [this] { service(); }); !r)
    return fail(std::move(r).error().wrap("vsock: activating"));
  mem_ = ctx.memory;
  queues_ = ctx.queues;
  interrupt_ = ctx.interrupt;
  bool event_idx = (ctx.acked_features & virtio::kFeatureRingEventIdx) != 0;
  for (auto& q : *queues_) q.set_event_idx(event_idx);
  return {};
}

void VsockDevice::reset() {
  muxer_->detach();
  mem_ = nullptr;
  queues_ = nullptr;
  interrupt_ = nullptr;
  tx_stalled_ = false;
}

void VsockDevice::queue_notify(size_t index) {
  if (!activated() || index == kEventQueue) return;  // event buffers wait for an event
  service();
}

void VsockDevice::service() {
  if (!activated()) return;
  // TX first (it produces replies), then RX. If TX stopped on a full RST backlog and RX
  // drained some of it, TX again: the loop ends because RX only has so many buffers.
  for (;;) {
    tx_stalled_ = process_tx();
    bool delivered = process_rx();
    if (!tx_stalled_ || !delivered) break;
  }
  bool irq = (*queues_)[kRxQueue].needs_interrupt(*mem_);
  irq = (*queues_)[kTxQueue].needs_interrupt(*mem_) || irq;
  if (irq) interrupt_->signal_used();
}

std::optional<virtio::Chain> VsockDevice::pop(virtio::Queue& q) {
  auto r = q.pop(*mem_);
  if (r && !*r) {
    q.enable_notification(*mem_);  // with EVENT_IDX: ask for a kick, then close the race
    r = q.pop(*mem_);
  }
  if (!r) {
    ++stats_.queue_errors;
    return std::nullopt;
  }
  return std::move(*r);
}

bool VsockDevice::process_tx() {
  auto& q = (*queues_)[kTxQueue];
  for (;;) {
    if (muxer_->backlog_full()) return true;
    auto chain = pop(q);
    if (!chain) return false;
    ++stats_.tx_packets;
    handle_tx(*chain);
    if (!q.add_used(*mem_, chain->head, 0)) {
      ++stats_.queue_errors;
      return false;
    }
  }
}

void VsockDevice::handle_tx(const virtio::Chain& chain) {
  virtio::ChainReader reader(*mem_, chain.readable);
  std::array<uint8_t, kHeaderSize> raw{};
  if (reader.read(raw.data(), raw.size()) != raw.size()) {
    ++stats_.tx_dropped;  // not even a header: no ports to answer
    return;
  }
  PacketHeader h = decode_header(raw);
  TxCheck check = check_tx_header(h, guest_cid_, reader.remaining());
  if (check.verdict == TxVerdict::drop) {
    ++stats_.tx_dropped;
    return;
  }
  if (check.verdict == TxVerdict::reset) {
    ++stats_.tx_rejected;
    muxer_->reject(h);
    return;
  }
  std::span<const uint8_t> payload;
  if (h.op == kOpRw && h.len > 0) {
    tx_payload_.resize(h.len);  // <= kMaxPayload and <= what the chain holds
    size_t got = reader.read(tx_payload_.data(), h.len);
    if (got != h.len) {
      ++stats_.tx_rejected;
      muxer_->reject(h);
      return;
    }
    payload = {tx_payload_.data(), got};
  }
  muxer_->handle(h, payload);
}

bool VsockDevice::process_rx() {
  auto& q = (*queues_)[kRxQueue];
  bool delivered = false;
  while (muxer_->has_rx()) {
    auto chain = pop(q);
    if (!chain) break;  // no buffer: packets stay queued until the guest kicks RX
    uint64_t room = chain->writable_bytes();
    if (room < kHeaderSize) {
      ++stats_.rx_bad_buffers;
      if (!q.add_used(*mem_, chain->head, 0)) {
        ++stats_.queue_errors;
        break;
      }
      continue;
    }
    size_t max_payload = static_cast<size_t>(std::min<uint64_t>(room - kHeaderSize, kMaxPayload));
    PacketHeader h;
    if (!muxer_->next_rx(h, rx_payload_, max_payload)) {
      if (max_payload == 0 && muxer_->has_rx()) {
        // Only data is waiting and this chain has no room for any: hand it back empty
        // rather than let it block the ring (Linux never posts such buffers).
        ++stats_.rx_bad_buffers;
        if (!q.add_used(*mem_, chain->head, 0)) {
          ++stats_.queue_errors;
          break;
        }
        continue;
      }
      q.undo_pop();  // nothing to say after all
      break;
    }
    h.len = static_cast<uint32_t>(rx_payload_.size());
    std::array<uint8_t, kHeaderSize> raw{};
    encode_header(h, raw);
    virtio::ChainWriter writer(*mem_, chain->writable);
    writer.write(raw.data(), raw.size());
    if (!rx_payload_.empty()) writer.write(rx_payload_.data(), rx_payload_.size());
    if (!q.add_used(*mem_, chain->head, static_cast<uint32_t>(writer.written()))) {
      ++stats_.queue_errors;
      break;
    }
    ++stats_.rx_packets;
    delivered = true;
  }
  return delivered;
}

Result<void> VsockDevice::send_transport_reset() {
  if (!activated()) return fail(Errc::conflict, "vsock: device not active");
  auto& q = (*queues_)[kEventQueue];
  auto popped = q.pop(*mem_);
  if (!popped) return fail(std::move(popped).error().wrap("vsock: event queue"));
  if (!*popped) return fail(Errc::unavailable, "vsock: the guest posted no event buffer");
  const virtio::Chain& chain = **popped;
  uint32_t written = 0;
  if (chain.writable_bytes() >= 4) {
    std::array<uint8_t, 4> ev{};
    for (size_t i = 0; i < ev.size(); ++i)
      ev[i] = static_cast<uint8_t>(kEventTransportReset >> (8 * i));
    virtio::ChainWriter writer(*mem_, chain.writable);
    written = static_cast<uint32_t>(writer.write(ev.data(), ev.size()));
  }
  NEXUS_TRY(q.add_used(*mem_, chain.head, written));
  if (q.needs_interrupt(*mem_)) interrupt_->signal_used();
  if (written != 4) return fail(Errc::protocol, "vsock: event buffer smaller than an event");
  ++stats_.events_sent;
  muxer_->clear();  // the guest drops every connection on TRANSPORT_RESET
  return {};
}

}  // namespace nexus::vmm::vsock
