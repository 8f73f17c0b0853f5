// SPDX-License-Identifier: Apache-2.0
// Tests for vmm/boot/mptable.hpp: signatures, checksums, entry counts and the entries Linux's
// mpparse reads, from the raw bytes at 0x9FC00.
#include <catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "vmm/boot/layout.hpp"
#include "vmm/boot/mptable.hpp"

using namespace nexus::vmm;
using namespace nexus::vmm::boot;

namespace {

GuestMemory guest() {
  auto mem = GuestMemory::allocate(16 * kMiB);
  REQUIRE(mem.has_value());
  return std::move(*mem);
}

uint8_t sum(const std::vector<uint8_t>& bytes, size_t from, size_t n) {
  uint8_t s = 0;
  for (size_t i = from; i < from + n; ++i) s = static_cast<uint8_t>(s + bytes[i]);
  return s;
}

template <class T>
T at(const std::vector<uint8_t>& bytes, size_t off) {
  T v;
  std::memcpy(&v, bytes.data() + off, sizeof v);
  return v;
}

std::vector<uint8_t> read_table(const GuestMemory& mem, int vcpus) {
  std::vector<uint8_t> bytes(mptable_size(vcpus));
  REQUIRE(mem.read(kMpTableAddr, bytes.data(), bytes.size()));
  return bytes;
}

}  // namespace

TEST_CASE("MP table for 1 and 4 vCPUs: checksums and entry counts", "[vmm][boot][mptable]") {
  for (int vcpus : {1, 4}) {
    INFO("vcpus = " << vcpus);
    auto mem = guest();
    REQUIRE(write_mptable(mem, vcpus).has_value());
    auto t = read_table(mem, vcpus);

    // Floating pointer.
    CHECK(std::string(t.begin(), t.begin() + 4) == "_MP_");
    CHECK(at<uint32_t>(t, 4) == kMpTableAddr + 16);  // physptr: the config table follows
    CHECK(t[8] == 1);                                // length in 16-byte units
    CHECK(t[9] == 4);                                // spec 1.4
    CHECK(sum(t, 0, 16) == 0);
    CHECK(t[11] == 0);  // feature1: a config table is present, no default configuration

    // Configuration table.
    const size_t c = 16;
    CHECK(std::string(t.begin() + c, t.begin() + c + 4) == "PCMP");
    uint16_t length = at<uint16_t>(t, c + 4);
    CHECK(length == t.size() - 16);
    CHECK(sum(t, c, length) == 0);
    CHECK(at<uint16_t>(t, c + 34) == vcpus + 28);  // cpus + bus + IOAPIC + 24 pins + 2 LINTs
    CHECK(at<uint32_t>(t, c + 36) == 0xFEE00000);

    // Processors: APIC id = index, enabled, BSP flag on the first only.
    size_t p = c + 44;
    for (int i = 0; i < vcpus; ++i, p += 20) {
      CHECK(t[p] == 0);
      CHECK(t[p + 1] == i);
      CHECK(t[p + 2] == 0x14);
      CHECK(t[p + 3] == (i == 0 ? 3 : 1));
    }
    // ISA bus.
    CHECK(t[p] == 1);
    CHECK(std::string(t.begin() + p + 2, t.begin() + p + 8) == "ISA   ");
    p += 8;
    // IOAPIC: id vcpus + 1, enabled, at 0xFEC00000.
    CHECK(t[p] == 2);
    CHECK(t[p + 1] == vcpus + 1);
    CHECK(t[p + 3] == 1);
    CHECK(at<uint32_t>(t, p + 4) == 0xFEC00000);
    p += 8;
    // IRQ n -> IOAPIC pin n.
    for (int irq = 0; irq < 24; ++irq, p += 8) {
      CHECK(t[p] == 3);
      CHECK(t[p + 1] == 0);                 // INT
      CHECK(at<uint16_t>(t, p + 2) == 0);  // conforming polarity and trigger
      CHECK(t[p + 5] == irq);
      CHECK(t[p + 6] == vcpus + 1);
      CHECK(t[p + 7] == irq);
    }
    // LINT0 ExtINT, LINT1 NMI.
    CHECK(t[p] == 4);
    CHECK(t[p + 1] == 3);
    CHECK(t[p + 7] == 0);
    CHECK(t[p + 8] == 4);
    CHECK(t[p + 9] == 1);
    CHECK(t[p + 14] == 0xFF);
    CHECK(t[p + 15] == 1);
    CHECK(p + 16 == t.size());
  }
}

TEST_CASE("MP table vCPU limits", "[vmm][boot][mptable]") {
  auto mem = guest();
  CHECK_FALSE(write_mptable(mem, 0).has_value());
  auto too_many = write_mptable(mem, 255);
  REQUIRE_FALSE(too_many.has_value());
  CHECK(too_many.error().message() == "255 vCPUs: the MP table takes 1 to 254");
  REQUIRE(write_mptable(mem, 254).has_value());
  auto t = read_table(mem, 254);
  CHECK(sum(t, 16, at<uint16_t>(t, 20)) == 0);
  CHECK(kMpTableAddr + t.size() <= kHimemStart);
}
