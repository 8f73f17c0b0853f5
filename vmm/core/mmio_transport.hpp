// SPDX-License-Identifier: Apache-2.0
// virtio-mmio version 2 transport (vmm-notes.md section 3.3) around one virtio::Device.
//
// Register accesses come from vCPU threads (MMIO exits); queue kicks arrive as ioeventfds on
// the event thread. Both hold the VMM's device lock. The driver is hostile: illegal status
// transitions, feature writes at the wrong time, bad queue sizes or misaligned rings put the
// device into DEVICE_NEEDS_RESET instead of being acted on.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "vmm/event_loop.hpp"
#include "vmm/guest_memory.hpp"
#include "vmm/virtio/device.hpp"

namespace nexus::vmm {

class Vm;

class MmioTransport final : public virtio::Interrupt {
 public:
  static constexpr uint64_t kWindow = 0x1000;

  MmioTransport(std::unique_ptr<virtio::Device> device, const GuestMemory& mem, EventLoop& loop,
                uint64_t base, unsigned gsi);
  ~MmioTransport() override;

  /// Create the interrupt eventfd and one ioeventfd per queue and register them with KVM and
  /// the event loop (start() included).
  Result<void> attach(Vm& vm);
  /// Register the device lifecycle (activation, reset) with the event loop; attach() calls
  /// it. Without it (a transport not attached to a VM) the device is never activated.
  Result<void> start();

  void read(uint64_t offset, uint8_t* data, uint32_t len);
  void write(uint64_t offset, const uint8_t* data, uint32_t len);

  void signal_used() override;
  void signal_config() override;

  uint64_t base() const { return base_; }
  unsigned gsi() const { return gsi_; }
  virtio::Device& device() { return *device_; }
  /// The last reason the device was marked as needing reset (empty if never).
  const std::string& last_error() const { return last_error_; }

 private:
  uint32_t read_register(uint64_t offset);
  void write_register(uint64_t offset, uint32_t value);
  void set_status(uint32_t value);
  void activate();
  void reset();
  void needs_reset(std::string why);
  void notify(uint32_t queue);
  void kick(uint32_t queue);
  void run_lifecycle();
  virtio::Queue* selected_queue();

  // Device activation and reset are the guest's Status writes (vCPU threads) but run on the
  // event thread, in order, so the vCPU seccomp filter need not allow what devices do there
  // (arming timers, say). A reset bumps the generation, so a queued activate it overtook
  // is dropped.
  struct LifecycleOp {
    bool activate;
    uint64_t generation;
  };

  std::unique_ptr<virtio::Device> device_;
  const GuestMemory& mem_;
  EventLoop& loop_;
  uint64_t base_;
  unsigned gsi_;
  UniqueFd irq_fd_;
  std::vector<UniqueFd> kick_fds_;
  UniqueFd lifecycle_fd_;
  std::vector<LifecycleOp> lifecycle_ops_;
  uint64_t generation_ = 0;

  std::vector<virtio::Queue> queues_;
  uint32_t status_ = 0;
  uint32_t device_features_sel_ = 0;
  uint32_t driver_features_sel_ = 0;
  uint64_t acked_features_ = 0;
  uint32_t queue_sel_ = 0;
  uint32_t config_generation_ = 0;
  std::atomic<uint32_t> interrupt_status_{0};
  bool activated_ = false;    ///< DRIVER_OK accepted and not reset since (transport state)
  bool device_live_ = false;  ///< device_->activate() succeeded, device_->reset() not run yet
  std::string last_error_;
};

}  // namespace nexus::vmm
