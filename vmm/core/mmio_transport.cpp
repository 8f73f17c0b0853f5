// SPDX-License-Identifier: Apache-2.0
#include "vmm/core/mmio_transport.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>

#include <fmt/format.h>

#include "common/log.hpp"
#include "vmm/core/kvm.hpp"

namespace nexus::vmm {
namespace {

constexpr uint32_t kMagic = 0x74726976;  // "virt"
constexpr uint32_t kVersion = 2;

enum Reg : uint64_t {
  kRegMagic = 0x000, kRegVersion = 0x004, kRegDeviceId = 0x008, kRegVendorId = 0x00C,
  kRegDeviceFeatures = 0x010, kRegDeviceFeaturesSel = 0x014, kRegDriverFeatures = 0x020,
  kRegDriverFeaturesSel = 0x024, kRegQueueSel = 0x030, kRegQueueNumMax = 0x034,
  kRegQueueNum = 0x038, kRegQueueReady = 0x044, kRegQueueNotify = 0x050,
  kRegInterruptStatus = 0x060, kRegInterruptAck = 0x064, kRegStatus = 0x070,
  kRegQueueDescLow = 0x080, kRegQueueDescHigh = 0x084, kRegQueueDriverLow = 0x090,
  kRegQueueDriverHigh = 0x094, kRegQueueDeviceLow = 0x0A0, kRegQueueDeviceHigh = 0x0A4,
  kRegConfigGeneration = 0x0FC, kRegConfig = 0x100,
};

constexpr uint32_t kStatusAck = 1, kStatusDriver = 2, kStatusDriverOk = 4,
                   kStatusFeaturesOk = 8, kStatusNeedsReset = 64, kStatusFailed = 128;

void set_low(uint64_t& v, uint32_t lo) { v = (v & 0xFFFFFFFF00000000ull) | lo; }
void set_high(uint64_t& v, uint32_t hi) { v = (v & 0xFFFFFFFFull) | (uint64_t{hi} << 32); }

}  // namespace

MmioTransport::MmioTransport(std::unique_ptr<virtio::Device> device, const GuestMemory& mem,
                             EventLoop& loop, uint64_t base, unsigned gsi)
    : device_(std::move(device)), mem_(mem), loop_(loop), base_(base), gsi_(gsi) {
  for (size_t i = 0; i < device_->queue_count(); ++i)
    queues_.emplace_back(device_->queue_max_size(i));
}

MmioTransport::~MmioTransport() {
  for (auto& fd : kick_fds_) loop_.remove(fd.get());
  if (lifecycle_fd_) loop_.remove(lifecycle_fd_.get());
}

Result<void> MmioTransport::attach(Vm& vm) {
  irq_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!irq_fd_) return fail_errno("eventfd");
  if (auto r = vm.add_irqfd(irq_fd_.get(), gsi_); !r) return r;
  for (uint32_t q = 0; q < queues_.size(); ++q) {
    UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!fd) return fail_errno("eventfd");
    if (auto r = vm.add_ioeventfd(base_ + kRegQueueNotify, q, fd.get()); !r) return r;
    int raw = fd.get();
    if (auto r = loop_.add(raw, EPOLLIN, [this, raw, q](uint32_t) {
          uint64_t v;
          (void)!::read(raw, &v, sizeof v);
          notify(q);
        });
        !r)
      return r;
    kick_fds_.push_back(std::move(fd));
  }
  return start();
}

Result<void> MmioTransport::start() {
  if (lifecycle_fd_) return {};
  lifecycle_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!lifecycle_fd_) return fail_errno("eventfd");
  return loop_.add(lifecycle_fd_.get(), EPOLLIN, [this](uint32_t) {
    uint64_t v;
    (void)!::read(lifecycle_fd_.get(), &v, sizeof v);
    run_lifecycle();
  });
}

void MmioTransport::signal_used() {
  interrupt_status_.fetch_or(1);
  uint64_t one = 1;
  (void)!::write(irq_fd_.get(), &one, sizeof one);
}

void MmioTransport::signal_config() {
  interrupt_status_.fetch_or(2);
  uint64_t one = 1;
  (void)!::write(irq_fd_.get(), &one, sizeof one);
}

virtio::Queue* MmioTransport::selected_queue() {
  return queue_sel_ < queues_.size() ? &queues_[queue_sel_] : nullptr;
}

void MmioTransport::read(uint64_t offset, uint8_t* data, uint32_t len) {
  std::memset(data, 0, len);
  if (offset >= kRegConfig) {
    device_->read_config(offset - kRegConfig, data, len);
    return;
  }
  if (len != 4 || offset % 4) return;  // registers are 32-bit only
  uint32_t v = read_register(offset);
  std::memcpy(data, &v, 4);
}

void MmioTransport::write(uint64_t offset, const uint8_t* data, uint32_t len) {
  if (offset >= kRegConfig) {
    if (status_ & kStatusDriver) device_->write_config(offset - kRegConfig, data, len);
    return;
  }
  if (len != 4 || offset % 4) return;
  uint32_t v;
  std::memcpy(&v, data, 4);
  write_register(offset, v);
}

uint32_t MmioTransport::read_register(uint64_t offset) {
  uint64_t features = device_->features() | virtio::kFeatureVersion1;
  switch (offset) {
    case kRegMagic: return kMagic;
    case kRegVersion: return kVersion;
    case kRegDeviceId: return device_->device_id();
    case kRegVendorId: return 0;
    case kRegDeviceFeatures:
      return device_features_sel_ == 0   ? static_cast<uint32_t>(features)
             : device_features_sel_ == 1 ? static_cast<uint32_t>(features >> 32)
                                         : 0;
    case kRegQueueNumMax: {
      auto* q = selected_queue();
      return q ? q->config.max_size : 0;
    }
    case kRegQueueReady: {
      auto* q = selected_queue();
      return q && q->config.ready ? 1 : 0;
    }
    case kRegInterruptStatus: return interrupt_status_.load();
    case kRegStatus: return status_;
    case kRegConfigGeneration: return config_generation_;
    default: return 0;
  }
}

void MmioTransport::write_register(uint64_t offset, uint32_t value) {
  // Queue fields may be written only while features are negotiated and the driver is not live.
  bool queue_writable = (status_ & kStatusFeaturesOk) && !(status_ & kStatusDriverOk);
  auto* q = selected_queue();
  switch (offset) {
    case kRegDeviceFeaturesSel: device_features_sel_ = value; return;
    case kRegDriverFeaturesSel: driver_features_sel_ = value; return;
    case kRegDriverFeatures: {
      if (!(status_ & kStatusDriver) || (status_ & kStatusFeaturesOk)) return;
      if (driver_features_sel_ > 1) return;
      uint64_t offered = device_->features() | virtio::kFeatureVersion1;
      uint64_t v = uint64_t{value} << (32 * driver_features_sel_);
      uint64_t mask = 0xFFFFFFFFull << (32 * driver_features_sel_);
      acked_features_ = (acked_features_ & ~mask) | (v & offered);  // never more than offered
      return;
    }
    case kRegQueueSel: queue_sel_ = value; return;
    case kRegQueueNum:
      if (q && queue_writable) q->config.size = static_cast<uint16_t>(std::min<uint32_t>(value, 0xFFFF));
      return;
    case kRegQueueReady:
      if (q && queue_writable) q->config.ready = value == 1;
      return;
    case kRegQueueNotify: kick(value); return;  // ioeventfds catch valid indices first
    case kRegInterruptAck: interrupt_status_.fetch_and(~value); return;
    case kRegStatus: set_status(value); return;
    case kRegQueueDescLow: if (q && queue_writable) set_low(q->config.desc_addr, value); return;
    case kRegQueueDescHigh: if (q && queue_writable) set_high(q->config.desc_addr, value); return;
    case kRegQueueDriverLow: if (q && queue_writable) set_low(q->config.avail_addr, value); return;
    case kRegQueueDriverHigh: if (q && queue_writable) set_high(q->config.avail_addr, value); return;
    case kRegQueueDeviceLow: if (q && queue_writable) set_low(q->config.used_addr, value); return;
    case kRegQueueDeviceHigh: if (q && queue_writable) set_high(q->config.used_addr, value); return;
    default: return;
  }
}

void MmioTransport::set_status(uint32_t value) {
  if (value == 0) return reset();
  if (value & kStatusFailed) {
    status_ |= kStatusFailed;
    return;
  }
  // Only the forward steps of the driver's init sequence are valid (one new bit each).
  uint32_t added = value & ~status_;
  if ((value & status_) != status_) return;  // clearing bits other than by reset: ignore
  switch (added) {
    case kStatusAck: if (status_ == 0) status_ = value; return;
    case kStatusDriver: if (status_ == kStatusAck) status_ = value; return;
    case kStatusFeaturesOk:
      if (status_ != (kStatusAck | kStatusDriver)) return;
      if (!(acked_features_ & virtio::kFeatureVersion1)) return;  // refuse: stays unset
      status_ = value;
      return;
    case kStatusDriverOk:
      if (status_ != (kStatusAck | kStatusDriver | kStatusFeaturesOk)) return;
      status_ = value;
      activate();
      return;
    default: return;
  }
}

void MmioTransport::activate() {
  for (size_t i = 0; i < queues_.size(); ++i) {
    auto& q = queues_[i];
    if (!q.config.ready) return needs_reset(fmt::format("queue {} not ready at DRIVER_OK", i));
    if (auto r = q.validate(mem_); !r)
      return needs_reset(fmt::format("queue {}: {}", i, r.error().message()));
    q.set_event_idx((acked_features_ & virtio::kFeatureRingEventIdx) != 0);
  }
  activated_ = true;
  lifecycle_ops_.push_back({true, generation_});
  uint64_t one = 1;
  (void)!::write(lifecycle_fd_.get(), &one, sizeof one);
}

void MmioTransport::run_lifecycle() {
  auto ops = std::move(lifecycle_ops_);
  lifecycle_ops_.clear();
  for (const auto& op : ops) {
    if (!op.activate) {
      if (device_live_) device_->reset();
      device_live_ = false;
      continue;
    }
    if (op.generation != generation_ || device_live_) continue;  // reset since, or live already
    virtio::ActivateContext ctx;
    ctx.memory = &mem_;
    ctx.queues = &queues_;
    ctx.acked_features = acked_features_;
    ctx.interrupt = this;
    ctx.loop = &loop_;
    if (auto r = device_->activate(ctx); !r) {
      needs_reset(r.error().message());
      continue;
    }
    device_live_ = true;
    // Kicks that came before activation were dropped: look at every queue once.
    for (uint32_t i = 0; i < queues_.size(); ++i) notify(i);
  }
}

void MmioTransport::needs_reset(std::string why) {
  last_error_ = fmt::format("virtio-{} at {:#x}: {}", device_->name(), base_, why);
  log::warning("vmm", "{}", last_error_);
  status_ |= kStatusNeedsReset;
  signal_config();
}

void MmioTransport::reset() {
  if (activated_ || device_live_) {
    lifecycle_ops_.push_back({false, generation_});
    uint64_t one = 1;
    (void)!::write(lifecycle_fd_.get(), &one, sizeof one);
  }
  ++generation_;
  activated_ = false;
  status_ = 0;
  acked_features_ = 0;
  device_features_sel_ = driver_features_sel_ = queue_sel_ = 0;
  interrupt_status_ = 0;
  for (auto& q : queues_) {
    uint16_t max = q.config.max_size;
    q.reset();
    q.config = virtio::QueueConfig{};
    q.config.max_size = max;
  }
}

void MmioTransport::kick(uint32_t queue) {
  // Devices run on the event thread only, which keeps the vCPU threads' seccomp filter small.
  if (queue >= kick_fds_.size()) return;
  uint64_t one = 1;
  (void)!::write(kick_fds_[queue].get(), &one, sizeof one);
}

void MmioTransport::notify(uint32_t queue) {
  if (!activated_ || !device_live_ || (status_ & kStatusNeedsReset) || queue >= queues_.size()) return;
  device_->queue_notify(queue);
  auto& q = queues_[queue];
  if (q.broken() && last_error_.empty()) needs_reset(q.broken_reason());
}

}  // namespace nexus::vmm
