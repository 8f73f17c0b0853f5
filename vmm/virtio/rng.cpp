// SPDX-License-Identifier: Apache-2.0
// virtio-rng: serving the request queue with getrandom() bytes written straight into the
// guest's buffers.
#include "vmm/virtio/rng.hpp"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace nexus::vmm::virtio {
namespace {

// A request larger than this is served only up to it (the guest asks again); getrandom()
// returns at most 32 MiB per call anyway.
constexpr uint64_t kMaxBytesPerRequest = 1 << 20;

}  // namespace

void RngDevice::read_config(uint64_t /*offset*/, void* data, size_t len) const {
  std::memset(data, 0, len);
}

Result<void> RngDevice::activate(const ActivateContext& ctx) {
  if (!ctx.memory || !ctx.queues || ctx.queues->size() != 1 || !ctx.interrupt)
    return fail(Errc::internal, "virtio-rng: activation without memory, queue or interrupt");
  mem_ = ctx.memory;
  queue_ = &(*ctx.queues)[0];
  interrupt_ = ctx.interrupt;
  return {};
}

void RngDevice::reset() {
  mem_ = nullptr;
  queue_ = nullptr;
  interrupt_ = nullptr;
}

void RngDevice::queue_notify(size_t index) {
  if (index != 0 || !queue_) return;
  for (;;) {
    auto chain = queue_->pop(*mem_);
    if (!chain) break;  // broken: the transport reports it
    if (!*chain) {
      queue_->enable_notification(*mem_);
      chain = queue_->pop(*mem_);
      if (!chain || !*chain) break;
    }
    const uint32_t used = fill(**chain);
    if (!queue_->add_used(*mem_, (*chain)->head, used)) break;
  }
  if (queue_->needs_interrupt(*mem_)) interrupt_->signal_used();
}

uint32_t RngDevice::fill(const Chain& chain) {
  uint64_t budget = kMaxBytesPerRequest;
  uint64_t written = 0;
  for (const Buffer& b : chain.writable) {
    uint64_t off = 0;
    while (off < b.len && budget > 0) {
      const uint64_t want = std::min<uint64_t>(b.len - off, budget);
      uint8_t* p = mem_->ptr(b.gpa + off, want);  // inside b, checked at pop()
      if (!p) return static_cast<uint32_t>(written);
      const ssize_t n = ::getrandom(p, want, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        return static_cast<uint32_t>(written);  // report what we have; nothing else to do
      }
      off += static_cast<uint64_t>(n);
      budget -= static_cast<uint64_t>(n);
      written += static_cast<uint64_t>(n);
    }
    if (budget == 0) break;
  }
  return static_cast<uint32_t>(written);
}

}  // namespace nexus::vmm::virtio
