// SPDX-License-Identifier: Apache-2.0
// VsockDevice: virtio-vsock (device id 19) with Firecracker's hybrid vsock host side.
//
// Queues: RX 0, TX 1, event 2 (256 entries each). Config space: u64 guest_cid. Features:
// VERSION_1 and RING_EVENT_IDX. Stream sockets only.
//
// Wiring (for the VMM core):
//  * VsockDevice::create(cid, uds_path) binds and listens on uds_path at once (a stale
//    socket file there is replaced), so the daemon may connect as soon as the VMM runs;
//    connections wait in the listen backlog until the driver activates the device.
//  * activate() registers every host-side fd (the listening socket, a timerfd, one per
//    connection) on ActivateContext::loop, which is required and must outlive the
//    activation; reset() and the destructor remove them. The transport delivers queue kicks
//    through queue_notify(); the device watches no ioeventfd itself.
//  * Host → guest: connect to uds_path, write `CONNECT <port>\n`, read `OK <host_port>\n`,
//    then the stream. Guest → host port P: the device connects to `<uds_path>_<P>`.
//  * listen_fd() and uds_path() are for the jailer/seccomp set-up and diagnostics; the
//    socket file is removed when the device is destroyed, if it is still the one it bound.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "vmm/virtio/device.hpp"
#include "vmm/vsock/muxer.hpp"

namespace nexus::vmm::vsock {

inline constexpr size_t kRxQueue = 0;
inline constexpr size_t kTxQueue = 1;
inline constexpr size_t kEventQueue = 2;
inline constexpr uint16_t kVsockQueueSize = 256;

struct VsockStats {
  uint64_t rx_packets = 0;      ///< packets delivered into RX chains
  uint64_t tx_packets = 0;      ///< TX chains taken from the guest
  uint64_t tx_dropped = 0;      ///< ignored: too short for a header, wrong CIDs, bad RST
  uint64_t tx_rejected = 0;     ///< malformed: answered with RST
  uint64_t rx_bad_buffers = 0;  ///< RX chains too small for a header (returned empty)
  uint64_t queue_errors = 0;    ///< the driver broke a queue (it then stays broken)
  uint64_t events_sent = 0;     ///< event-queue events (TRANSPORT_RESET)
};

class VsockDevice : public virtio::Device {
 public:
  /// guest_cid in [3, 2^32 - 2] (Linux keeps CIDs in 32 bits; -1 is VMADDR_CID_ANY).
  static Result<std::unique_ptr<VsockDevice>> create(uint64_t guest_cid, std::string uds_path,
                                                     MuxerOptions options = {});
  ~VsockDevice() override;

  uint32_t device_id() const override { return virtio::kDeviceIdVsock; }
  uint64_t features() const override;
  size_t queue_count() const override { return 3; }
  uint16_t queue_max_size(size_t) const override { return kVsockQueueSize; }
  void read_config(uint64_t offset, void* data, size_t len) const override;
  Result<void> activate(const virtio::ActivateContext& ctx) override;
  void queue_notify(size_t index) override;
  void reset() override;
  const char* name() const override { return "vsock"; }

  /// Put TRANSPORT_RESET on the event queue (before a snapshot). The guest then drops every
  /// connection, so the host side closes all of its Unix connections too. Call with the
  /// device lock held, like every other method; fails when not active or the guest posted no
  /// event buffer (then nothing is closed).
  Result<void> send_transport_reset();

  uint64_t guest_cid() const noexcept { return guest_cid_; }
  int listen_fd() const noexcept { return muxer_->listen_fd(); }
  const std::string& uds_path() const noexcept { return muxer_->uds_path(); }
  bool activated() const noexcept { return mem_ != nullptr; }
  const VsockStats& stats() const noexcept { return stats_; }
  const Muxer& muxer() const noexcept { return *muxer_; }

 private:
  VsockDevice(uint64_t guest_cid, std::unique_ptr<Muxer> muxer);
  /// Process TX, then RX, again while RX drained a backlog that stalled TX; then interrupt.
  void service();
  /// Returns whether it stopped because the muxer's RST backlog is full.
  bool process_tx();
  /// Returns whether any packet was delivered.
  bool process_rx();
  void handle_tx(const virtio::Chain& chain);
  /// pop() with the EVENT_IDX re-check; nullopt when empty or broken.
  std::optional<virtio::Chain> pop(virtio::Queue& q);

  uint64_t guest_cid_;
  std::unique_ptr<Muxer> muxer_;
  const GuestMemory* mem_ = nullptr;
  std::vector<virtio::Queue>* queues_ = nullptr;
  virtio::Interrupt* interrupt_ = nullptr;
  bool tx_stalled_ = false;
  std::vector<uint8_t> tx_payload_;
  std::vector<uint8_t> rx_payload_;
  VsockStats stats_;
};

}  // namespace nexus::vmm::vsock
