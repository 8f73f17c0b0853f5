// SPDX-License-Identifier: Apache-2.0
#include "vmm/core/probe.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "vmm/boot/boot_tables.hpp"
#include "vmm/boot/cpu_state.hpp"
#include "vmm/boot/cpuid.hpp"
#include "vmm/core/kvm.hpp"

namespace nexus::vmm {
namespace {

constexpr uint64_t kCodeAddr = 0x100000;
constexpr uint16_t kDonePort = 0x10;
constexpr auto kWatchdog = std::chrono::seconds(5);

// mov ecx, N; 1: dec ecx; jnz 1b; out 0x10, al; hlt
void write_loop(const GuestMemory& mem, uint32_t n) {
  uint8_t code[] = {0xB9, 0, 0, 0, 0, 0xFF, 0xC9, 0x75, 0xFC, 0xE6, kDonePort, 0xF4};
  std::memcpy(code + 1, &n, 4);
  mem.write(kCodeAddr, code, sizeof code);
}

double native_ns(uint32_t n) {
  auto t0 = std::chrono::steady_clock::now();
  uint32_t c = n;
  asm volatile("1: dec %0\n\tjnz 1b" : "+r"(c));
  auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / n;
}

void on_kick(int) {}

struct ProbeVm {
  Vm vm;
  GuestMemory mem;
  std::unique_ptr<Vcpu> vcpu;
  std::vector<kvm_cpuid_entry2> cpuid;
};

Result<ProbeVm> make_vm(const Kvm& kvm) {
  ProbeVm p;
  auto vm = Vm::create(kvm, /*with_irqchip=*/false);
  if (!vm) return fail(vm.error());
  p.vm = std::move(*vm);
  auto mem = GuestMemory::allocate(4ull << 20);
  if (!mem) return fail(mem.error());
  p.mem = std::move(*mem);
  if (auto r = p.vm.map_memory(p.mem); !r) return fail(r.error());
  if (auto r = boot::write_boot_tables(p.mem); !r) return fail(r.error());
  auto vcpu = p.vm.create_vcpu(kvm, 0);
  if (!vcpu) return fail(vcpu.error());
  p.vcpu = std::move(*vcpu);
  auto cpuid = kvm.supported_cpuid();
  if (!cpuid) return fail(cpuid.error());
  boot::normalize_cpuid(*cpuid, 0, 1);
  if (auto r = p.vcpu->set_cpuid(*cpuid); !r) return fail(r.error());
  auto sregs = p.vcpu->get_sregs();
  if (!sregs) return fail(sregs.error());
  boot::boot_sregs(*sregs);
  if (auto r = p.vcpu->set_sregs(*sregs); !r) return fail(r.error());
  return p;
}

// One run of the loop with n iterations; nanoseconds from KVM_RUN to the port exit.
Result<double> run_loop(ProbeVm& p, uint32_t n) {
  write_loop(p.mem, n);
  if (auto r = p.vcpu->set_regs(boot::boot_regs(kCodeAddr)); !r) return fail(r.error());
  kvm_run* run = p.vcpu->run();
  std::atomic<bool> done{false};
  pthread_t self = ::pthread_self();
  std::thread watchdog([&] {
    auto deadline = std::chrono::steady_clock::now() + kWatchdog;
    while (!done && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (!done) {
      run->immediate_exit = 1;
      ::pthread_kill(self, SIGUSR1);
    }
  });
  auto t0 = std::chrono::steady_clock::now();
  int r = ::ioctl(p.vcpu->fd(), KVM_RUN, 0);
  int err = errno;
  auto t1 = std::chrono::steady_clock::now();
  done = true;
  watchdog.join();
  if (r < 0 && err == EINTR)
    return fail(Errc::timeout, fmt::format("{} guest loop iterations took more than {} s", n,
                                           kWatchdog.count()));
  if (r < 0) return fail_errno(err, "KVM_RUN");
  if (run->exit_reason != KVM_EXIT_IO || run->io.port != kDonePort)
    return fail(Errc::unavailable,
                fmt::format("the probe guest stopped with exit reason {} instead of its port write",
                            run->exit_reason));
  return std::chrono::duration<double, std::nano>(t1 - t0).count();
}

}  // namespace

ProbeResult probe_kvm(const std::string& kvm_path) {
  ProbeResult out;
  struct sigaction sa {};
  sa.sa_handler = on_kick;
  ::sigaction(SIGUSR1, &sa, nullptr);

  auto kvm = Kvm::open(kvm_path);
  if (!kvm) {
    out.reason = kvm.error().message();
    return out;
  }
  auto p = make_vm(*kvm);
  if (!p) {
    out.reason = "creating a probe VM: " + p.error().message();
    return out;
  }
  // A short run measures the entry/exit cost; a long one the loop. Start small so an
  // emulating host answers within seconds.
  auto base = run_loop(*p, 1000);
  if (!base) {
    out.reason = "running the probe guest: " + base.error().message();
    return out;
  }
  out.kvm = true;
  uint32_t n = 100000;
  auto t = run_loop(*p, n);
  if (t && (*t - *base) / n < 50.0) {  // fast enough to measure properly
    n = 20000000;
    t = run_loop(*p, n);
  }
  if (!t) {
    out.reason = "timing the probe guest: " + t.error().message();
    return out;
  }
  out.iterations = n;
  out.guest_ns_per_iteration = std::max(0.0, (*t - *base)) / (n - 1000);
  double native = native_ns(n);
  for (int i = 0; i < 2; ++i) native = std::min(native, native_ns(n));
  out.native_ns_per_iteration = native;
  out.slowdown = native > 0 ? out.guest_ns_per_iteration / native : 0;
  out.usable = out.slowdown <= kMaxSlowdown;
  out.reason =
      out.usable
          ? fmt::format("guest kernel code runs at {:.1f}x native speed: hardware virtualization",
                        out.slowdown)
          : fmt::format("/dev/kvm runs guest kernel code {:.0f}x slower than native (PVM or "
                        "software emulation); microVMs would crawl, so auto picks the jail",
                        out.slowdown);
  return out;
}

Json probe_json(const ProbeResult& r) {
  return Json{{"kvm", r.kvm},
              {"usable", r.usable},
              {"ns_per_iteration", r.guest_ns_per_iteration},
              {"native_ns_per_iteration", r.native_ns_per_iteration},
              {"native_ns_estimate", r.native_ns_per_iteration},
              {"slowdown", r.slowdown},
              {"iterations", r.iterations},
              {"reason", r.reason}};
}

}  // namespace nexus::vmm
