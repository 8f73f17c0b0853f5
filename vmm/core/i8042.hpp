// SPDX-License-Identifier: Apache-2.0
// A minimal i8042 keyboard controller (ports 0x60/0x64, IRQ 1): enough for Linux's driver to
// find a controller and a keyboard, for `reboot=k` (command 0xFE = CPU reset, which ends the
// VMM) and for injecting Ctrl-Alt-Del, which a guest init turns into a clean shutdown.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>

namespace nexus::vmm {

class I8042 {
 public:
  static constexpr uint16_t kData = 0x60;
  static constexpr uint16_t kCommand = 0x64;  ///< status on read

  /// on_reset: called (on the vCPU thread) when the guest asks for a CPU reset.
  I8042(int irq_fd, std::function<void()> on_reset)
      : irq_fd_(irq_fd), on_reset_(std::move(on_reset)) {}

  uint8_t read(uint16_t port);
  void write(uint16_t port, uint8_t value);
  /// Queue the scancodes of Ctrl-Alt-Del (set 2, as Firecracker sends them) and interrupt.
  void send_ctrl_alt_del();

 private:
  void push(uint8_t byte);
  void raise();

  int irq_fd_;
  std::function<void()> on_reset_;
  uint8_t control_ = 0x01;  ///< controller config byte: keyboard interrupt enabled
  uint8_t pending_command_ = 0;
  std::deque<uint8_t> out_;
};

}  // namespace nexus::vmm
