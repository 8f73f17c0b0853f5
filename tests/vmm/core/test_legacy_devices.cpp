// SPDX-License-Identifier: Apache-2.0
// Tests for the legacy devices: the COM1 UART model and the i8042 reset line.
#include <catch.hpp>

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <string>

#include "common/unique_fd.hpp"
#include "vmm/core/i8042.hpp"
#include "vmm/core/serial.hpp"

using namespace nexus;
using namespace nexus::vmm;

namespace {
uint64_t drain(int efd) {
  uint64_t v = 0;
  if (::read(efd, &v, sizeof v) != sizeof v) return 0;
  return v;
}
}  // namespace

TEST_CASE("serial: bytes written to THR reach the log", "[vmm][serial]") {
  int p[2];
  REQUIRE(::pipe2(p, O_NONBLOCK) == 0);
  UniqueFd rd(p[0]), wr(p[1]);
  Serial s(wr.get(), -1);
  for (char c : std::string("hello\n")) s.write(0, static_cast<uint8_t>(c));
  char buf[16] = {};
  REQUIRE(::read(rd.get(), buf, sizeof buf) == 6);
  CHECK(std::string(buf) == "hello\n");
  CHECK(s.bytes_written() == 6);
  CHECK((s.read(5) & 0x60) == 0x60);  // THR empty and transmitter idle, always
}

TEST_CASE("serial: Linux's autoconfig sees a 16550A with FIFO and working loopback",
          "[vmm][serial]") {
  Serial s(-1, -1);
  CHECK((s.read(2) & 0xC0) == 0xC0);  // IIR reports FIFOs enabled
  s.write(7, 0xA5);                    // scratch register keeps its value
  CHECK(s.read(7) == 0xA5);
  s.write(4, 0x10 | 0x0A);             // loopback with RTS and OUT2
  CHECK((s.read(6) & 0xF0) == 0x90);   // CTS and DCD mirror RTS and OUT2
  s.write(0, 0x42);                    // looped back into the receiver
  CHECK((s.read(5) & 0x01) == 0x01);
  CHECK(s.read(0) == 0x42);
  s.write(3, 0x80);                    // DLAB: divisor latch
  s.write(0, 0x01);
  CHECK(s.read(0) == 0x01);
}

TEST_CASE("serial: THR-empty interrupt is raised once and cleared by reading IIR",
          "[vmm][serial]") {
  UniqueFd irq(::eventfd(0, EFD_NONBLOCK));
  Serial s(-1, irq.get());
  s.write(1, 0x02);  // IER: THR empty
  CHECK(drain(irq.get()) == 1);
  CHECK((s.read(2) & 0x0F) == 0x02);
  CHECK((s.read(2) & 0x0F) == 0x01);  // cleared
}

TEST_CASE("serial: a guest cannot write more than the log cap", "[vmm][serial]") {
  UniqueFd null(::open("/dev/null", O_WRONLY));
  Serial s(null.get(), -1);
  for (uint64_t i = 0; i < Serial::kMaxLogBytes + 100; ++i) s.write(0, 'x');
  CHECK(s.bytes_written() == Serial::kMaxLogBytes);
}

TEST_CASE("i8042: command 0xFE resets the machine", "[vmm][i8042]") {
  int resets = 0;
  I8042 k(-1, [&] { ++resets; });
  k.write(I8042::kCommand, 0xFE);
  CHECK(resets == 1);
  k.write(I8042::kCommand, 0xD1);  // output port write with the reset bit low
  k.write(I8042::kData, 0x00);
  CHECK(resets == 2);
}

TEST_CASE("i8042: self-test, config byte and keyboard acks for Linux's probe", "[vmm][i8042]") {
  I8042 k(-1, {});
  k.write(I8042::kCommand, 0xAA);
  CHECK((k.read(I8042::kCommand) & 0x01) == 0x01);
  CHECK(k.read(I8042::kData) == 0x55);
  k.write(I8042::kCommand, 0x60);
  k.write(I8042::kData, 0x47);
  k.write(I8042::kCommand, 0x20);
  CHECK(k.read(I8042::kData) == 0x47);
  k.write(I8042::kData, 0xF2);  // keyboard: identify
  CHECK(k.read(I8042::kData) == 0xFA);
  CHECK(k.read(I8042::kData) == 0xAB);
  CHECK(k.read(I8042::kData) == 0x83);
  CHECK((k.read(I8042::kCommand) & 0x01) == 0);  // output buffer empty again
}

TEST_CASE("i8042: Ctrl-Alt-Del arrives as set-2 scancodes with an interrupt", "[vmm][i8042]") {
  UniqueFd irq(::eventfd(0, EFD_NONBLOCK));
  I8042 k(irq.get(), {});
  k.send_ctrl_alt_del();
  CHECK(drain(irq.get()) >= 1);
  uint8_t got[4];
  for (auto& b : got) b = k.read(I8042::kData);
  CHECK(got[0] == 0x14);
  CHECK(got[1] == 0x11);
  CHECK(got[2] == 0xE0);
  CHECK(got[3] == 0x71);
}
