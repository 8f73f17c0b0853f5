// SPDX-License-Identifier: Apache-2.0
// An 8250/16550A UART at COM1 (0x3F8, IRQ 4), output only: what the guest prints goes to a
// log fd. The register model follows vmm-notes.md section 3.1 closely enough for Linux's
// 8250 driver (FIFO detection, loopback for autoconfig, THR-empty interrupts).
#pragma once

#include <cstdint>
#include <deque>

namespace nexus::vmm {

class Serial {
 public:
  static constexpr uint16_t kBase = 0x3F8;
  static constexpr uint16_t kSize = 8;
  static constexpr uint64_t kMaxLogBytes = 16ull << 20;  ///< the guest cannot fill the disk

  /// out_fd: where output goes (-1: discarded). irq_fd: eventfd wired to IRQ 4 (-1: none).
  Serial(int out_fd, int irq_fd) : out_fd_(out_fd), irq_fd_(irq_fd) {}

  uint8_t read(uint16_t offset);
  void write(uint16_t offset, uint8_t value);
  uint64_t bytes_written() const { return written_; }

 private:
  void update_interrupt();
  void emit(uint8_t byte);
  bool dlab() const { return (lcr_ & 0x80) != 0; }
  bool loopback() const { return (mcr_ & 0x10) != 0; }

  int out_fd_;
  int irq_fd_;
  uint8_t ier_ = 0, iir_ = 0x01, lcr_ = 0x03, mcr_ = 0x08, msr_ = 0xB0, scr_ = 0;
  uint8_t dll_ = 0x0C, dlm_ = 0;
  bool thr_empty_pending_ = false;
  std::deque<uint8_t> in_;  ///< loopback bytes only
  uint64_t written_ = 0;
};

}  // namespace nexus::vmm
