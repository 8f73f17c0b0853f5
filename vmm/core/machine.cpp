// SPDX-License-Identifier: Apache-2.0
#include "vmm/core/machine.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "common/log.hpp"
#include "vmm/boot/boot_params.hpp"
#include "vmm/boot/boot_tables.hpp"
#include "vmm/boot/cpuid.hpp"
#include "vmm/boot/cpu_state.hpp"
#include "vmm/boot/elf_loader.hpp"
#include "vmm/boot/initrd.hpp"
#include "vmm/boot/layout.hpp"
#include "vmm/boot/mptable.hpp"
#include "vmm/core/jailer.hpp"
#include "vmm/core/seccomp.hpp"
#include "vmm/virtio/block.hpp"
#include "vmm/virtio/rng.hpp"
#include "vmm/vsock/device.hpp"

namespace nexus::vmm {
namespace {

// Firecracker's defaults plus what a MMIO-only, ACPI-free guest wants (vmm-notes.md 1.7, 7.3).
// Only parameters our guest kernel knows: the kernel hands unknown ones (e.g. `nomodule`
// without CONFIG_MODULES) to init as arguments.
constexpr const char* kBaseCmdline =
    "reboot=k panic=1 pci=off acpi=off i8042.noaux i8042.nomux i8042.dumbkbd "
    "no_timer_check tsc=reliable random.trust_cpu=on";
constexpr int kKickSignal = SIGUSR1;
constexpr size_t kMaxInitrdBytes = 512ull << 20;

void on_kick(int) {}  // only interrupts KVM_RUN

// Reads the initrd straight into guest memory at the address place_initrd would choose
// (no second copy of a file that may be tens of MiB); returns {gpa, size}.
Result<std::pair<uint64_t, uint64_t>> load_initrd(const GuestMemory& mem, const std::string& path,
                                                  uint64_t kernel_end) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail_errno("opening '" + path + "'");
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return fail_errno("stat '" + path + "'");
  if (!S_ISREG(st.st_mode)) return fail(Errc::invalid_argument, "'" + path + "' is not a file");
  auto size = static_cast<uint64_t>(st.st_size);
  if (size > kMaxInitrdBytes)
    return fail(Errc::too_large, fmt::format("'{}' is larger than {} bytes", path, kMaxInitrdBytes));
  auto gpa = boot::initrd_address(mem, size, kernel_end);
  if (!gpa) return fail(std::move(gpa).error());
  uint8_t* dst = mem.ptr(*gpa, size);
  if (!dst && size) return fail(Errc::internal, "initrd address outside guest memory");
  uint64_t off = 0;
  while (off < size) {
    ssize_t n = ::pread(fd.get(), dst + off, size - off, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_errno("reading '" + path + "'");
    if (n == 0) return fail(Errc::invalid_argument, "'" + path + "' shrank while it was read");
    off += static_cast<uint64_t>(n);
  }
  return std::pair{*gpa, size};
}

std::string dirname_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

}  // namespace

Machine::Machine(VmmConfig config) : config_(std::move(config)) {}
Machine::~Machine() {
  // vCPU threads may still sit in KVM_RUN; the process is about to exit anyway.
  for (auto& t : threads_)
    if (t.joinable()) t.detach();
}

Result<std::unique_ptr<Machine>> Machine::create(const VmmConfig& config) {
  std::unique_ptr<Machine> m(new Machine(config));
  if (auto r = m->setup(); !r) return fail(r.error());
  return m;
}

Result<void> Machine::setup() {
  auto kvm = Kvm::open();
  if (!kvm) return fail(kvm.error());
  kvm_ = std::move(*kvm);
  auto vm = Vm::create(kvm_);
  if (!vm) return fail(vm.error());
  vm_ = std::move(*vm);
  auto mem = GuestMemory::allocate(config_.memory_mib << 20);
  if (!mem) return fail(mem.error());
  mem_ = std::move(*mem);
  if (auto r = vm_.map_memory(mem_); !r) return r;
  auto loop = EventLoop::create();
  if (!loop) return fail(loop.error());
  loop_ = std::move(*loop);

  // Legacy devices: COM1 (only with a log to write to) and the i8042 reset line.
  if (!config_.serial_log.empty()) {
    serial_out_.reset(::open(config_.serial_log.c_str(),
                             O_WRONLY | O_CREAT | O_APPEND | O_NONBLOCK | O_CLOEXEC, 0640));
    if (!serial_out_) return fail_errno("opening serial log '" + config_.serial_log + "'");
  }
  serial_irq_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  i8042_irq_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!serial_irq_ || !i8042_irq_) return fail_errno("eventfd");
  if (auto r = vm_.add_irqfd(serial_irq_.get(), boot::kSerialIrq); !r) return r;
  if (auto r = vm_.add_irqfd(i8042_irq_.get(), boot::kI8042Irq); !r) return r;
  serial_ = std::make_unique<Serial>(serial_out_.get(), serial_irq_.get());
  i8042_ = std::make_unique<I8042>(i8042_irq_.get(),
                                   [this] { request_exit(0, "the guest reset the machine"); });

  // virtio devices, in the order the guest numbers them: disks (vda, vdb, ...), vsock, rng.
  for (size_t i = 0; i < config_.disks.size(); ++i) {
    const auto& d = config_.disks[i];
    auto dev = virtio::BlockDevice::open(d.path, d.read_only, fmt::format("nexus-vd{}", char('a' + i)));
    if (!dev) return fail(dev.error().wrap(fmt::format("disk {} ('{}')", i, d.path)));
    if (auto r = add_virtio(std::move(*dev)); !r) return r;
  }
  if (config_.vsock_cid) {
    auto dev = vsock::VsockDevice::create(config_.vsock_cid, config_.vsock_uds);
    if (!dev) return fail(dev.error().wrap("vsock"));
    if (auto r = add_virtio(std::move(*dev)); !r) return r;
  }
  if (auto r = add_virtio(std::make_unique<virtio::RngDevice>()); !r) return r;

  auto control = ControlServer::bind(config_.control);
  if (!control) return fail(control.error());
  control_fd_ = std::move(*control);

  if (auto r = load_guest(); !r) return r;

  auto cpuid = kvm_.supported_cpuid();
  if (!cpuid) return fail(cpuid.error());
  for (unsigned i = 0; i < config_.cpus; ++i) {
    auto vcpu = vm_.create_vcpu(kvm_, i);
    if (!vcpu) return fail(vcpu.error());
    if (auto r = configure_vcpu(**vcpu, *cpuid); !r) return fail(r.error().wrap(fmt::format("vCPU {}", i)));
    vcpus_.push_back(std::move(*vcpu));
  }
  paused_event_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  stop_timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!paused_event_ || !stop_timer_) return fail_errno("eventfd/timerfd");
  return {};
}

Result<void> Machine::add_virtio(std::unique_ptr<virtio::Device> device) {
  unsigned slot = static_cast<unsigned>(transports_.size());
  if (slot >= boot::kVirtioMmioMaxSlots) return fail(Errc::invalid_argument, "too many virtio devices");
  auto t = std::make_unique<MmioTransport>(std::move(device), mem_, *loop_,
                                           boot::virtio_mmio_slot_base(slot),
                                           boot::virtio_mmio_slot_irq(slot));
  if (auto r = t->attach(vm_); !r) return fail(r.error().wrap(fmt::format("virtio-{}", t->device().name())));
  transports_.push_back(std::move(t));
  return {};
}

std::string Machine::boot_cmdline() const {
  std::string c = kBaseCmdline;
  c += config_.serial_log.empty() ? " 8250.nr_uarts=0 quiet" : " console=ttyS0 8250.nr_uarts=1";
  if (config_.cpus == 1) c += " nosmp";
  for (const auto& t : transports_)
    c += fmt::format(" virtio_mmio.device=4K@{:#x}:{}", t->base(), t->gsi());
  if (!config_.cmdline.empty()) c += " " + config_.cmdline;
  return c;
}

Result<void> Machine::load_guest() {
  UniqueFd kfd(::open(config_.kernel.c_str(), O_RDONLY | O_CLOEXEC));
  if (!kfd) return fail_errno("opening kernel '" + config_.kernel + "'");
  auto image = boot::load_elf_kernel_fd(mem_, kfd.get());
  if (!image) return fail(image.error().wrap("loading kernel '" + config_.kernel + "'"));
  entry_ = image->entry;
  boot::BootParams params;
  params.cmdline = boot_cmdline();
  if (!config_.initrd.empty()) {
    auto initrd = load_initrd(mem_, config_.initrd, image->kernel_end);
    if (!initrd) return fail(initrd.error().wrap("initrd '" + config_.initrd + "'"));
    params.initrd_gpa = initrd->first;
    params.initrd_size = initrd->second;
  }
  if (auto r = boot::write_boot_tables(mem_); !r) return r;
  if (auto r = boot::write_mptable(mem_, static_cast<int>(config_.cpus)); !r) return r;
  if (auto r = boot::write_boot_params(mem_, params); !r) return r;
  log::debug("vmm", "kernel entry {:#x}, cmdline: {}", entry_, params.cmdline);
  return {};
}

Result<void> Machine::configure_vcpu(Vcpu& vcpu, const std::vector<kvm_cpuid_entry2>& supported) {
  auto cpuid = supported;
  boot::normalize_cpuid(cpuid, vcpu.index(), config_.cpus);
  // CPUID first: since Linux 6.13 KVM derives MSR support from it (vmm-notes.md 1.4).
  if (auto r = vcpu.set_cpuid(cpuid); !r) return r;
  if (auto r = vcpu.set_msrs(boot::boot_msrs()); !r) return r;
  if (auto r = vcpu.set_regs(boot::boot_regs(entry_)); !r) return r;
  auto sregs = vcpu.get_sregs();
  if (!sregs) return fail(sregs.error());
  boot::boot_sregs(*sregs);
  if (auto r = vcpu.set_sregs(*sregs); !r) return r;
  if (auto r = vcpu.set_fpu(boot::boot_fpu()); !r) return r;
  auto lapic = vcpu.get_lapic();
  if (!lapic) return fail(lapic.error());
  boot::set_lapic_lint(*lapic);
  return vcpu.set_lapic(*lapic);
}

int Machine::run() {
  struct sigaction sa {};
  sa.sa_handler = on_kick;  // no SA_RESTART: the signal must break KVM_RUN
  ::sigaction(kKickSignal, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  if (config_.jail) {
    JailSpec spec;
    spec.uid = config_.jail->uid;
    spec.gid = config_.jail->gid;
    spec.mount_point = dirname_of(config_.control);
    spec.on_fallback = [](const char* what) { log::warning("vmm", "jail: {}", what); };
    if (auto r = enter_jail(spec); !r) {
      log::error("vmm", "entering the jail: {}", r.error().message());
      return 1;
    }
  }

  control_ = std::make_unique<ControlServer>(
      *loop_, std::move(control_fd_),
      [this](const Json& req, ControlServer::Reply reply) { on_control(req, std::move(reply)); });
  if (auto r = control_->start(); !r) {
    log::error("vmm", "control socket: {}", r.error().message());
    return 1;
  }
  int pe = paused_event_.get();
  (void)loop_->add(pe, EPOLLIN, [this, pe](uint32_t) {
    uint64_t v;
    (void)!::read(pe, &v, sizeof v);
    on_vcpu_paused();
  });
  int st = stop_timer_.get();
  (void)loop_->add(st, EPOLLIN, [this, st](uint32_t) {
    uint64_t v;
    (void)!::read(st, &v, sizeof v);
    request_exit(0, "the guest did not shut down in time; stopped");
  });

  for (auto& v : vcpus_) {
    Vcpu* raw = v.get();
    threads_.emplace_back([this, raw] { vcpu_main(*raw); });
    handles_.push_back(threads_.back().native_handle());
  }
  if (auto r = install_event_filter(); !r) {
    log::error("vmm", "seccomp: {}", r.error().message());
    return 1;
  }
  log::info("vmm", "{}: started {} vCPU(s), {} MiB, {} virtio device(s)", config_.id,
            config_.cpus, config_.memory_mib, transports_.size());
  if (auto r = loop_->run(device_lock_); !r) {
    log::error("vmm", "event loop: {}", r.error().message());
    return 1;
  }
  int code = exit_code_.load();
  log::info("vmm", "{}: {}", config_.id, exit_reason_);
  return code < 0 ? 1 : code;
}

void Machine::request_exit(int code, std::string why) {
  int expected = -1;
  if (!exit_code_.compare_exchange_strong(expected, code)) return;
  exit_reason_ = std::move(why);
  loop_->stop();
}

void Machine::vcpu_main(Vcpu& vcpu) {
  if (auto r = install_vcpu_filter(); !r) {
    request_exit(1, "seccomp (vCPU): " + r.error().message());
    return;
  }
  kvm_run* run = vcpu.run();
  for (;;) {
    {
      std::unique_lock lk(pause_mu_);
      if (pause_requested_) {
        ++parked_;
        uint64_t one = 1;
        (void)!::write(paused_event_.get(), &one, sizeof one);
        pause_cv_.wait(lk, [this] { return !pause_requested_; });
        --parked_;
      }
      run->immediate_exit = 0;  // under pause_mu_: a new pause request sets it after this
    }
    int r = ::ioctl(vcpu.fd(), KVM_RUN, 0);
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return request_exit(1, fmt::format("vCPU {}: KVM_RUN: {}", vcpu.index(), std::strerror(errno)));
    }
    switch (run->exit_reason) {
      case KVM_EXIT_IO: handle_io(run); break;
      case KVM_EXIT_MMIO: handle_mmio(run); break;
      case KVM_EXIT_HLT: break;  // not with the in-kernel irqchip; harmless
      case KVM_EXIT_SYSTEM_EVENT: return request_exit(0, "the guest shut down");
      case KVM_EXIT_SHUTDOWN:
        return request_exit(1, fmt::format("vCPU {}: the guest triple-faulted", vcpu.index()));
      case KVM_EXIT_FAIL_ENTRY:
        return request_exit(1, fmt::format("vCPU {}: VM entry failed (reason {:#x})", vcpu.index(),
                                           run->fail_entry.hardware_entry_failure_reason));
      case KVM_EXIT_INTERNAL_ERROR: {
        auto regs = vcpu.get_regs();
        return request_exit(1, fmt::format("vCPU {}: KVM internal error, suberror {} at rip {:#x}",
                                           vcpu.index(), run->internal.suberror,
                                           regs ? regs->rip : 0));
      }
      default:
        return request_exit(1, fmt::format("vCPU {}: unexpected exit reason {}", vcpu.index(),
                                           run->exit_reason));
    }
  }
}

void Machine::handle_io(kvm_run* run) {
  auto* data = reinterpret_cast<uint8_t*>(run) + run->io.data_offset;
  uint16_t port = run->io.port;
  uint32_t bytes = static_cast<uint32_t>(run->io.size) * run->io.count;
  std::lock_guard g(device_lock_);
  for (uint32_t i = 0; i < bytes; ++i) {
    // Only byte-wide registers exist here; wider accesses touch consecutive "ports" of the
    // same device, which is what real hardware would decode too.
    uint16_t p = run->io.count > 1 ? port : static_cast<uint16_t>(port + i);
    bool in = run->io.direction == KVM_EXIT_IO_IN;
    if (p >= Serial::kBase && p < Serial::kBase + Serial::kSize) {
      if (in) data[i] = serial_->read(static_cast<uint16_t>(p - Serial::kBase));
      else serial_->write(static_cast<uint16_t>(p - Serial::kBase), data[i]);
    } else if (p == I8042::kData || p == I8042::kCommand) {
      if (in) data[i] = i8042_->read(p);
      else i8042_->write(p, data[i]);
    } else if (in) {
      data[i] = 0xFF;  // nothing there
    }
  }
}

void Machine::handle_mmio(kvm_run* run) {
  uint64_t addr = run->mmio.phys_addr;
  uint32_t len = std::min<uint32_t>(run->mmio.len, sizeof run->mmio.data);
  std::lock_guard g(device_lock_);
  for (auto& t : transports_) {
    if (addr < t->base() || addr - t->base() >= MmioTransport::kWindow) continue;
    if (len > MmioTransport::kWindow - (addr - t->base())) break;
    if (run->mmio.is_write) t->write(addr - t->base(), run->mmio.data, len);
    else t->read(addr - t->base(), run->mmio.data, len);
    return;
  }
  if (!run->mmio.is_write) std::memset(run->mmio.data, 0xFF, len);  // unmapped: all ones
}

std::string Machine::state() const { return pause_requested_ ? "paused" : "running"; }

void Machine::pause_all() {
  std::lock_guard lk(pause_mu_);
  if (pause_requested_) return;
  pause_requested_ = true;
  for (size_t i = 0; i < vcpus_.size(); ++i) {
    vcpus_[i]->run()->immediate_exit = 1;
    ::pthread_kill(handles_[i], kKickSignal);
  }
}

void Machine::resume_all() {
  {
    std::lock_guard lk(pause_mu_);
    pause_requested_ = false;
  }
  pause_cv_.notify_all();
}

void Machine::on_vcpu_paused() {
  bool all;
  {
    std::lock_guard lk(pause_mu_);
    all = pause_requested_ && parked_ == vcpus_.size();
  }
  if (!all) return;
  for (auto& reply : std::exchange(pause_waiters_, {})) reply(Json{{"ok", true}, {"state", "paused"}});
}

void Machine::on_control(const Json& req, ControlServer::Reply reply) {
  auto op = json_string(req, "op");
  if (!op || op->empty()) return reply(Json{{"ok", false}, {"error", "missing 'op'"}});
  if (*op == "status") {
    Json errors = Json::array();
    for (auto& t : transports_)
      if (!t->last_error().empty()) errors.push_back(t->last_error());
    return reply(Json{{"ok", true}, {"state", state()}, {"device_errors", errors},
                      {"serial_bytes", serial_->bytes_written()}});
  }
  if (*op == "pause") {
    pause_waiters_.push_back(std::move(reply));
    pause_all();
    on_vcpu_paused();  // already parked (a second pause, or no vCPU running)
    return;
  }
  if (*op == "resume") {
    resume_all();
    return reply(Json{{"ok", true}, {"state", "running"}});
  }
  if (*op == "stop") {
    auto timeout = json_int(req, "timeout_ms", 2000);
    if (!timeout || *timeout < 0 || *timeout > 600000)
      return reply(Json{{"ok", false}, {"error", "timeout_ms must be 0..600000"}});
    resume_all();
    if (*timeout == 0) {
      reply(Json{{"ok", true}});
      return request_exit(0, "stopped");
    }
    i8042_->send_ctrl_alt_del();  // the guest's init turns this into a clean power-off
    itimerspec its{};
    its.it_value.tv_sec = *timeout / 1000;
    its.it_value.tv_nsec = (*timeout % 1000) * 1000000;
    (void)::timerfd_settime(stop_timer_.get(), 0, &its, nullptr);
    return reply(Json{{"ok", true}});
  }
  reply(Json{{"ok", false}, {"error", "unknown op '" + *op + "'"}});
}

}  // namespace nexus::vmm
