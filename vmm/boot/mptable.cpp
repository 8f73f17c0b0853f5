// SPDX-License-Identifier: Apache-2.0
// MP table layout (packed structs as in the spec; Linux's asm/mpspec_def.h is not exported to
// userspace) and its serialisation.
#include "vmm/boot/mptable.hpp"

#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "vmm/boot/layout.hpp"

namespace nexus::vmm::boot {
namespace {

struct [[gnu::packed]] MpFloatingPointer {
  char signature[4];  // "_MP_"
  uint32_t physptr;   // configuration table address
  uint8_t length;     // in 16-byte units: 1
  uint8_t spec;       // 4 = version 1.4
  uint8_t checksum;   // all 16 bytes sum to 0
  uint8_t feature1;   // 0: a configuration table is present
  uint8_t feature2;
  uint8_t feature3[3];
};

struct [[gnu::packed]] MpConfigHeader {
  char signature[4];  // "PCMP"
  uint16_t length;    // base table length, header included
  uint8_t spec;
  uint8_t checksum;   // the base table sums to 0
  char oem[8];
  char product[12];
  uint32_t oem_ptr;
  uint16_t oem_size;
  uint16_t entry_count;
  uint32_t lapic;     // local APIC address
  uint16_t ext_length;
  uint8_t ext_checksum;
  uint8_t reserved;
};

struct [[gnu::packed]] MpProcessor {
  uint8_t type;  // 0
  uint8_t apic_id;
  uint8_t apic_version;
  uint8_t cpu_flags;  // bit 0 enabled, bit 1 bootstrap processor
  uint32_t signature;
  uint32_t feature_flags;
  uint32_t reserved[2];
};

struct [[gnu::packed]] MpBus {
  uint8_t type;  // 1
  uint8_t bus_id;
  char bus_type[6];
};

struct [[gnu::packed]] MpIoapic {
  uint8_t type;  // 2
  uint8_t apic_id;
  uint8_t apic_version;
  uint8_t flags;  // bit 0 enabled
  uint32_t address;
};

struct [[gnu::packed]] MpInterrupt {  // type 3 (I/O interrupt) and 4 (local interrupt)
  uint8_t type;
  uint8_t irq_type;
  uint16_t irq_flags;  // polarity and trigger; 0 = conforming to the bus
  uint8_t src_bus;
  uint8_t src_irq;
  uint8_t dst_apic;
  uint8_t dst_pin;
};

static_assert(sizeof(MpFloatingPointer) == 16);
static_assert(sizeof(MpConfigHeader) == 44);
static_assert(sizeof(MpProcessor) == 20);
static_assert(sizeof(MpBus) == 8);
static_assert(sizeof(MpIoapic) == 8);
static_assert(sizeof(MpInterrupt) == 8);

constexpr uint8_t kEntryProcessor = 0, kEntryBus = 1, kEntryIoapic = 2, kEntryIoInterrupt = 3,
                  kEntryLocalInterrupt = 4;
constexpr uint8_t kIrqInt = 0, kIrqNmi = 1, kIrqExtInt = 3;
constexpr uint8_t kApicVersion = 0x14;
constexpr uint8_t kCpuEnabled = 1, kCpuBsp = 2;
constexpr uint32_t kCpuSignature = 0x600;               // family 6, model 0, stepping 0
constexpr uint32_t kCpuFeatures = (1u << 9) | 1u;        // APIC | FPU
constexpr uint8_t kIsaBus = 0;
constexpr uint8_t kAllLapics = 0xFF;
constexpr size_t kFixedEntries = 1 + 1 + kIoapicPins + 2;  // bus, IOAPIC, pins, LINT0/1

uint8_t checksum(const uint8_t* p, size_t n) {
  uint8_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum = static_cast<uint8_t>(sum + p[i]);
  return static_cast<uint8_t>(-sum);
}

template <class T>
void append(std::vector<uint8_t>& out, const T& v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof(T));
}

constexpr size_t table_size(int vcpus) {
  return sizeof(MpFloatingPointer) + sizeof(MpConfigHeader) +
         static_cast<size_t>(vcpus) * sizeof(MpProcessor) + sizeof(MpBus) + sizeof(MpIoapic) +
         (kIoapicPins + 2) * sizeof(MpInterrupt);
}
static_assert(kMpTableAddr + table_size(kMpMaxVcpus) <= kHimemStart,
              "the largest MP table stays inside the reserved range below 1 MiB");

}  // namespace

size_t mptable_size(int vcpus) { return table_size(vcpus); }

Result<void> write_mptable(const GuestMemory& mem, int vcpus) {
  if (vcpus < 1 || vcpus > kMpMaxVcpus)
    return fail(Errc::invalid_argument,
                fmt::format("{} vCPUs: the MP table takes 1 to {}", vcpus, kMpMaxVcpus));
  const size_t size = mptable_size(vcpus);
  const auto ioapic_id = static_cast<uint8_t>(vcpus + 1);

  std::vector<uint8_t> table;
  table.reserve(size);
  MpFloatingPointer fp{};
  std::memcpy(fp.signature, "_MP_", 4);
  fp.physptr = static_cast<uint32_t>(kMpTableAddr + sizeof(MpFloatingPointer));
  fp.length = 1;
  fp.spec = 4;
  fp.checksum = checksum(reinterpret_cast<const uint8_t*>(&fp), sizeof fp);
  append(table, fp);

  const size_t header_at = table.size();
  MpConfigHeader hdr{};
  std::memcpy(hdr.signature, "PCMP", 4);
  hdr.length = static_cast<uint16_t>(size - sizeof(MpFloatingPointer));
  hdr.spec = 4;
  std::memcpy(hdr.oem, "NEXUS   ", 8);
  std::memcpy(hdr.product, "MICROVM     ", 12);
  hdr.entry_count = static_cast<uint16_t>(static_cast<size_t>(vcpus) + kFixedEntries);
  hdr.lapic = static_cast<uint32_t>(kLapicAddr);
  append(table, hdr);

  for (int i = 0; i < vcpus; ++i) {
    MpProcessor cpu{};
    cpu.type = kEntryProcessor;
    cpu.apic_id = static_cast<uint8_t>(i);
    cpu.apic_version = kApicVersion;
    cpu.cpu_flags = static_cast<uint8_t>(kCpuEnabled | (i == 0 ? kCpuBsp : 0));
    cpu.signature = kCpuSignature;
    cpu.feature_flags = kCpuFeatures;
    append(table, cpu);
  }
  MpBus bus{};
  bus.type = kEntryBus;
  bus.bus_id = kIsaBus;
  std::memcpy(bus.bus_type, "ISA   ", 6);
  append(table, bus);
  MpIoapic ioapic{};
  ioapic.type = kEntryIoapic;
  ioapic.apic_id = ioapic_id;
  ioapic.apic_version = kApicVersion;
  ioapic.flags = 1;
  ioapic.address = static_cast<uint32_t>(kIoapicAddr);
  append(table, ioapic);
  for (unsigned pin = 0; pin < kIoapicPins; ++pin) {
    MpInterrupt irq{};
    irq.type = kEntryIoInterrupt;
    irq.irq_type = kIrqInt;
    irq.src_bus = kIsaBus;
    irq.src_irq = static_cast<uint8_t>(pin);
    irq.dst_apic = ioapic_id;
    irq.dst_pin = static_cast<uint8_t>(pin);
    append(table, irq);
  }
  MpInterrupt lint0{kEntryLocalInterrupt, kIrqExtInt, 0, kIsaBus, 0, 0, 0};
  MpInterrupt lint1{kEntryLocalInterrupt, kIrqNmi, 0, kIsaBus, 0, kAllLapics, 1};
  append(table, lint0);
  append(table, lint1);

  NEXUS_CHECK(table.size() == size);
  table[header_at + offsetof(MpConfigHeader, checksum)] =
      checksum(table.data() + header_at, size - header_at);
  if (!mem.write(kMpTableAddr, table.data(), table.size()))
    return fail(Errc::invalid_argument, "guest memory does not cover the MP table");
  return {};
}

}  // namespace nexus::vmm::boot
