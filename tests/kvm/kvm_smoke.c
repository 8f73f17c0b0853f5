/* kvm_smoke: proves that /dev/kvm in the harness's L1 VM runs guests.
 *
 * Creates a VM with 64 KiB of memory and one vCPU in real mode at 0x1000 and
 * runs a few instructions: two `out`s to 0x3f8 ("4\n", computed by the guest),
 * a loop of 1000 `out`s to port 0x10 (measures the cost of an I/O exit), a
 * 10M-iteration register loop between `out`s to 0x11 and 0x12 (measures guest
 * speed), then `hlt`. Checks every exit reason and value on the way.
 * Built static by tests/kvm/run-smoke (gcc -static); exit 0 = pass.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE 0x10000
#define CODE_ADDR 0x1000
#define IO_LOOP_COUNT 1000
#define CPU_LOOP_COUNT 10000000

static const uint8_t guest_code[] = {
    0xba, 0xf8, 0x03,                   /* mov dx, 0x3f8 */
    0x00, 0xd8,                         /* add al, bl */
    0x04, '0',                          /* add al, '0' */
    0xee,                               /* out dx, al */
    0xb0, '\n',                         /* mov al, '\n' */
    0xee,                               /* out dx, al */
    0xb9, 0xe8, 0x03,                   /* mov cx, 1000 */
    0xba, 0x10, 0x00,                   /* mov dx, 0x10 */
    0xee,                               /* 1: out dx, al */
    0xe2, 0xfd,                         /* loop 1b */
    0xba, 0x11, 0x00,                   /* mov dx, 0x11 */
    0xee,                               /* out dx, al */
    0x66, 0xb9, 0x80, 0x96, 0x98, 0x00, /* mov ecx, 10000000 */
    0x66, 0x49,                         /* 2: dec ecx */
    0x75, 0xfc,                         /* jnz 2b */
    0xba, 0x12, 0x00,                   /* mov dx, 0x12 */
    0xee,                               /* out dx, al */
    0xf4,                               /* hlt */
};

static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("kvm_smoke: FAIL: ", stdout);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    exit(1);
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int xioctl(int fd, unsigned long req, void *arg, const char *name)
{
    int r = ioctl(fd, req, arg);
    if (r < 0)
        fail("%s: %s", name, strerror(errno));
    return r;
}

static const char *exit_name(uint32_t reason)
{
    switch (reason) {
    case KVM_EXIT_UNKNOWN: return "UNKNOWN";
    case KVM_EXIT_EXCEPTION: return "EXCEPTION";
    case KVM_EXIT_IO: return "IO";
    case KVM_EXIT_HLT: return "HLT";
    case KVM_EXIT_MMIO: return "MMIO";
    case KVM_EXIT_SHUTDOWN: return "SHUTDOWN";
    case KVM_EXIT_FAIL_ENTRY: return "FAIL_ENTRY";
    case KVM_EXIT_INTERNAL_ERROR: return "INTERNAL_ERROR";
    default: return "other";
    }
}

int main(void)
{
    double t0 = now_us();
    alarm(120);

    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0)
        fail("open /dev/kvm: %s", strerror(errno));
    int api = ioctl(kvm, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION)
        fail("KVM_GET_API_VERSION = %d, want %d", api, KVM_API_VERSION);
    if (ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) <= 0)
        fail("KVM_CAP_USER_MEMORY missing");
    printf("kvm_smoke: api %d, caps: irqchip=%d irqfd=%d ioeventfd=%d xsave=%d tsc_control=%d max_vcpus=%d\n",
           api, ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP),
           ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD),
           ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD),
           ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE),
           ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_TSC_CONTROL),
           ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS));

    int vm = ioctl(kvm, KVM_CREATE_VM, 0UL);
    if (vm < 0)
        fail("KVM_CREATE_VM: %s", strerror(errno));

    uint8_t *mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        fail("mmap guest memory: %s", strerror(errno));
    memcpy(mem + CODE_ADDR, guest_code, sizeof guest_code);
    struct kvm_userspace_memory_region region = {
        .slot = 0,
        .guest_phys_addr = 0,
        .memory_size = MEM_SIZE,
        .userspace_addr = (uint64_t)(uintptr_t)mem,
    };
    xioctl(vm, KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION");

    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0UL);
    if (vcpu < 0)
        fail("KVM_CREATE_VCPU: %s", strerror(errno));
    int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size < (int)sizeof(struct kvm_run))
        fail("KVM_GET_VCPU_MMAP_SIZE = %d", run_size);
    struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED)
        fail("mmap kvm_run: %s", strerror(errno));

    struct kvm_sregs sregs;
    xioctl(vcpu, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS");
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    xioctl(vcpu, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");
    struct kvm_regs regs = {
        .rip = CODE_ADDR,
        .rax = 2,
        .rbx = 2,
        .rflags = 0x2,
    };
    xioctl(vcpu, KVM_SET_REGS, &regs, "KVM_SET_REGS");
    double t_setup = now_us();

    char serial[8];
    size_t serial_len = 0;
    int io_exits = 0, loop_exits = 0;
    double t_first_run = 0, t_loop_start = 0, t_loop_end = 0, t_cpu_start = 0, t_cpu_end = 0;
    for (;;) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0) {
            if (errno == EINTR)
                continue;
            fail("KVM_RUN: %s", strerror(errno));
        }
        double t = now_us();
        if (t_first_run == 0)
            t_first_run = t;
        if (run->exit_reason == KVM_EXIT_HLT)
            break;
        if (run->exit_reason != KVM_EXIT_IO) {
            if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
                fail("exit INTERNAL_ERROR, suberror %u", run->internal.suberror);
            if (run->exit_reason == KVM_EXIT_FAIL_ENTRY)
                fail("exit FAIL_ENTRY, hardware reason 0x%llx",
                     (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
            fail("unexpected exit %u (%s)", run->exit_reason, exit_name(run->exit_reason));
        }
        io_exits++;
        if (run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 1 || run->io.count != 1)
            fail("unexpected I/O exit: port 0x%x dir %u size %u count %u", run->io.port,
                 run->io.direction, run->io.size, run->io.count);
        uint8_t value = *((uint8_t *)run + run->io.data_offset);
        switch (run->io.port) {
        case 0x3f8:
            if (serial_len + 1 < sizeof serial)
                serial[serial_len++] = (char)value;
            break;
        case 0x10:
            if (loop_exits++ == 0)
                t_loop_start = t;
            t_loop_end = t;
            break;
        case 0x11: t_cpu_start = t; break;
        case 0x12: t_cpu_end = t; break;
        default: fail("I/O exit to unexpected port 0x%x", run->io.port);
        }
    }
    double t_end = now_us();
    serial[serial_len] = '\0';

    if (strcmp(serial, "4\n") != 0)
        fail("guest wrote \"%s\" to 0x3f8, want \"4\\n\"", serial);
    if (loop_exits != IO_LOOP_COUNT)
        fail("%d exits to port 0x10, want %d", loop_exits, IO_LOOP_COUNT);
    if (t_cpu_start == 0 || t_cpu_end == 0)
        fail("register loop markers (ports 0x11/0x12) missing");
    xioctl(vcpu, KVM_GET_REGS, &regs, "KVM_GET_REGS");
    if (regs.rip != CODE_ADDR + sizeof guest_code)
        fail("rip after hlt = 0x%llx, want 0x%zx", (unsigned long long)regs.rip,
             CODE_ADDR + sizeof guest_code);

    printf("kvm_smoke: guest wrote \"4\\n\" to 0x3f8, %d I/O exits, ended in HLT at rip 0x%llx\n",
           io_exits, (unsigned long long)regs.rip);
    printf("kvm_smoke: setup %.0f us, first KVM_RUN %.0f us, I/O exit %.1f us each, "
           "register loop %.2f ns/iteration, total %.1f ms\n",
           t_setup - t0, t_first_run - t_setup,
           (t_loop_end - t_loop_start) / (IO_LOOP_COUNT - 1),
           (t_cpu_end - t_cpu_start) * 1e3 / CPU_LOOP_COUNT, (t_end - t0) / 1e3);
    puts("kvm_smoke: OK");
    return 0;
}
