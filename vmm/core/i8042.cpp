// SPDX-License-Identifier: Apache-2.0
#include "vmm/core/i8042.hpp"

#include <unistd.h>

#include <utility>

namespace nexus::vmm {
namespace {
constexpr uint8_t kStatusOutputFull = 0x01;
constexpr uint8_t kStatusSystemFlag = 0x04;
constexpr uint8_t kStatusCommandLast = 0x08;
constexpr uint8_t kStatusKbdEnabled = 0x10;
constexpr size_t kMaxQueued = 64;
}  // namespace

void I8042::raise() {
  if (irq_fd_ < 0 || out_.empty() || !(control_ & 0x01)) return;
  uint64_t one = 1;
  (void)!::write(irq_fd_, &one, sizeof one);
}

void I8042::push(uint8_t byte) {
  if (out_.size() < kMaxQueued) out_.push_back(byte);
}

uint8_t I8042::read(uint16_t port) {
  if (port == kCommand) {
    uint8_t s = kStatusSystemFlag | kStatusKbdEnabled;
    if (!out_.empty()) s |= kStatusOutputFull;
    if (pending_command_) s |= kStatusCommandLast;
    return s;
  }
  if (port != kData || out_.empty()) return 0;
  uint8_t v = out_.front();
  out_.pop_front();
  raise();  // one byte per interrupt
  return v;
}

void I8042::write(uint16_t port, uint8_t value) {
  if (port == kCommand) {
    switch (value) {
      case 0x20: push(control_); break;                   // read controller config
      case 0x60: case 0xD1: case 0xD2: case 0xD3: case 0xD4:
        pending_command_ = value;                          // next data byte is the argument
        break;
      case 0xAA: push(0x55); break;                        // controller self-test passed
      case 0xAB: push(0x00); break;                        // keyboard interface test passed
      case 0xC0: push(0x00); break;                        // read input port
      case 0xD0: push(0x01); break;                        // read output port (A20 off, no reset)
      case 0xFE: if (on_reset_) on_reset_(); break;        // pulse reset line: the VM ends
      default: break;                                      // enable/disable ports etc.
    }
    return;
  }
  if (port != kData) return;
  switch (std::exchange(pending_command_, 0)) {
    case 0x60: control_ = value; return;
    case 0xD1:  // write output port: bit 0 clear = CPU reset
      if (!(value & 0x01) && on_reset_) on_reset_();
      return;
    case 0xD2: case 0xD3: push(value); raise(); return;  // echo as if from the device
    case 0xD4: return;                                    // to the aux port: there is none
    default: break;
  }
  // A byte for the keyboard itself: acknowledge every command; answer a few with data.
  push(0xFA);
  if (value == 0xF2) {  // identify: a standard MF2 keyboard
    push(0xAB);
    push(0x83);
  } else if (value == 0xFF) {  // reset: self-test passed
    push(0xAA);
  }
  raise();
}

void I8042::send_ctrl_alt_del() {
  for (uint8_t b : {0x14, 0x11, 0xE0, 0x71}) push(b);
  raise();
}

}  // namespace nexus::vmm
