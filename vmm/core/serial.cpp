// SPDX-License-Identifier: Apache-2.0
#include "vmm/core/serial.hpp"

#include <unistd.h>

namespace nexus::vmm {
namespace {
constexpr uint8_t kIerRda = 0x01, kIerThre = 0x02;
constexpr uint8_t kIirNone = 0x01, kIirThre = 0x02, kIirRda = 0x04, kIirFifo = 0xC0;
constexpr uint8_t kLsrDr = 0x01, kLsrThre = 0x20, kLsrTemt = 0x40;
constexpr size_t kFifo = 64;
}  // namespace

void Serial::emit(uint8_t byte) {
  if (out_fd_ < 0 || written_ >= kMaxLogBytes) return;
  // Non-blocking best effort: a stuck log never stalls the vCPU.
  if (::write(out_fd_, &byte, 1) == 1) ++written_;
}

void Serial::update_interrupt() {
  uint8_t iir = kIirNone;
  if ((ier_ & kIerRda) && !in_.empty()) iir = kIirRda;
  else if ((ier_ & kIerThre) && thr_empty_pending_) iir = kIirThre;
  bool raise = iir != kIirNone && iir_ == kIirNone;
  iir_ = iir;
  if (raise && irq_fd_ >= 0) {
    uint64_t one = 1;
    (void)!::write(irq_fd_, &one, sizeof one);
  }
}

uint8_t Serial::read(uint16_t offset) {
  switch (offset) {
    case 0: {
      if (dlab()) return dll_;
      uint8_t v = 0;
      if (!in_.empty()) {
        v = in_.front();
        in_.pop_front();
      }
      update_interrupt();
      return v;
    }
    case 1: return dlab() ? dlm_ : ier_;
    case 2: {
      uint8_t v = iir_ | kIirFifo;
      if (iir_ == kIirThre) {  // reading IIR clears a pending THR-empty indication
        thr_empty_pending_ = false;
        update_interrupt();
      }
      return v;
    }
    case 3: return lcr_;
    case 4: return mcr_;
    case 5: return kLsrThre | kLsrTemt | (in_.empty() ? 0 : kLsrDr);
    case 6:
      if (loopback()) {  // MSR mirrors MCR: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD
        return static_cast<uint8_t>(((mcr_ & 0x01) << 5) | ((mcr_ & 0x02) << 3) |
                                    ((mcr_ & 0x04) << 4) | ((mcr_ & 0x08) << 4));
      }
      return msr_;
    case 7: return scr_;
    default: return 0xFF;
  }
}

void Serial::write(uint16_t offset, uint8_t value) {
  switch (offset) {
    case 0:
      if (dlab()) {
        dll_ = value;
        return;
      }
      if (loopback()) {
        if (in_.size() < kFifo) in_.push_back(value);
      } else {
        emit(value);
      }
      thr_empty_pending_ = true;
      update_interrupt();
      return;
    case 1:
      if (dlab()) {
        dlm_ = value;
        return;
      }
      ier_ = value & 0x0F;
      if (ier_ & kIerThre) thr_empty_pending_ = true;  // THR is always empty
      update_interrupt();
      return;
    case 2: return;  // FCR: FIFO control, nothing to do
    case 3: lcr_ = value; return;
    case 4: mcr_ = value & 0x1F; return;
    case 7: scr_ = value; return;
    default: return;  // LSR/MSR are read-only
  }
}

}  // namespace nexus::vmm
