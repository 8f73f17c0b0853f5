// SPDX-License-Identifier: Apache-2.0
// A deliberately hostile microVM guest for the nested harness. Not Linux: a freestanding
// ELF that nexus-vmm boots like a kernel (64-bit entry, identity map of the first GiB),
// maps the virtio-mmio window itself and then drives the devices the way a malicious
// kernel would. Expected result: nexus-vmm keeps running, reports one error per attacked
// device on its control socket, and stops cleanly when asked.
//
// Device layout of the harness's hostile config: slot 0 virtio-blk, slot 1 virtio-vsock,
// slot 2 virtio-rng (0xC0001000, 0xC0002000, 0xC0003000).
#include <stdint.h>

#define MMIO_BASE 0xC0001000ull
#define SLOT(n) (MMIO_BASE + (uint64_t)(n) * 0x1000)

struct desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};

static inline void w32(uint64_t a, uint32_t v) { *(volatile uint32_t*)a = v; }
static inline uint32_t r32(uint64_t a) { return *(volatile uint32_t*)a; }
static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }

// Map 3-4 GiB with 2 MiB pages through a new page directory at 0xC000.
static void map_mmio_window(void) {
  uint64_t* pdpt = (uint64_t*)0xA000;
  uint64_t* pd = (uint64_t*)0xC000;
  for (int i = 0; i < 512; ++i) pd[i] = (0xC0000000ull + ((uint64_t)i << 21)) | 0x9B;  // P RW PWT PCD PS
  pdpt[3] = 0xC000 | 3;
  uint64_t cr3;
  __asm__ volatile("mov %%cr3, %0; mov %0, %%cr3" : "=r"(cr3)::"memory");
}

// Rings of queue q of a device live at 0x200000 + slot*0x40000 + q*0x4000.
static uint64_t ring_base(int slot, int q) { return 0x200000ull + (uint64_t)slot * 0x40000 + (uint64_t)q * 0x4000; }

static void bring_up(int slot, int queues) {
  uint64_t b = SLOT(slot);
  w32(b + 0x70, 0);
  w32(b + 0x70, 1);
  w32(b + 0x70, 3);
  w32(b + 0x24, 1);
  w32(b + 0x20, 1);  // VERSION_1
  w32(b + 0x24, 0);
  w32(b + 0x20, 0);
  w32(b + 0x70, 11);
  for (int q = 0; q < queues; ++q) {
    uint64_t r = ring_base(slot, q);
    w32(b + 0x30, (uint32_t)q);
    w32(b + 0x38, 16);
    w32(b + 0x80, (uint32_t)r);
    w32(b + 0x84, 0);
    w32(b + 0x90, (uint32_t)(r + 0x1000));
    w32(b + 0x94, 0);
    w32(b + 0xA0, (uint32_t)(r + 0x2000));
    w32(b + 0xA4, 0);
    w32(b + 0x44, 1);
  }
  w32(b + 0x70, 15);  // DRIVER_OK
}

static void post(int slot, int q, uint16_t head, uint16_t idx) {
  volatile uint16_t* avail = (volatile uint16_t*)(ring_base(slot, q) + 0x1000);
  avail[2] = head;  // ring[0]
  __asm__ volatile("" ::: "memory");
  avail[1] = idx;   // avail.idx
  __asm__ volatile("mfence" ::: "memory");
  w32(SLOT(slot) + 0x50, (uint32_t)q);  // kick (an ioeventfd in the VMM)
}

void _start(void) {
  map_mmio_window();

  // virtio-blk: a descriptor chain whose writable tail loops back on itself.
  bring_up(0, 1);
  struct desc* d = (struct desc*)ring_base(0, 0);
  d[0] = (struct desc){0x300000, 16, 1, 1};
  d[1] = (struct desc){0x300100, 512, 1 | 2, 2};
  d[2] = (struct desc){0x300400, 1, 1 | 2, 1};
  post(0, 0, 0, 1);

  // virtio-vsock: the TX avail index runs 500 entries ahead of a 16-entry ring.
  bring_up(1, 3);
  post(1, 1, 0, 500);

  // virtio-rng: a writable buffer far outside guest memory.
  bring_up(2, 1);
  struct desc* r = (struct desc*)ring_base(2, 0);
  r[0] = (struct desc){0xFFFFFFFFF000ull, 4096, 2, 0};
  post(2, 0, 0, 1);

  // Garbage everywhere else: register writes after DRIVER_OK, offsets past the window,
  // unaligned accesses, unknown ports, the config space of every device.
  for (int slot = 0; slot < 3; ++slot) {
    uint64_t b = SLOT(slot);
    w32(b + 0x38, 0xFFFFFFFF);
    w32(b + 0x30, 0xFFFF);
    w32(b + 0x50, 0xDEAD);
    for (uint64_t off = 0x100; off < 0x1000; off += 0x7C) w32(b + off, 0xFFFFFFFF);
    (void)r32(b + 0xFFC);
  }
  w32(SLOT(40), 0x1234);  // no device there
  for (uint16_t p = 0x100; p < 0x140; ++p) outb(p, 0xAA);

  for (;;) __asm__ volatile("cli; hlt");
}
