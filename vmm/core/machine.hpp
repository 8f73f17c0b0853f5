// SPDX-License-Identifier: Apache-2.0
// Machine: one microVM put together from a VmmConfig — KVM VM, guest memory, the booted
// kernel, legacy devices (COM1, i8042), virtio-mmio devices (block, vsock, rng), vCPU threads,
// the event loop and the control socket — and run until the guest stops.
//
// Threads: run() is the event thread (devices, control socket); one thread per vCPU only
// runs KVM_RUN and handles PIO/MMIO register accesses. Both hold `device_lock_` while they
// touch device state.
#pragma once

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "vmm/core/config.hpp"
#include "vmm/core/control.hpp"
#include "vmm/core/i8042.hpp"
#include "vmm/core/kvm.hpp"
#include "vmm/core/mmio_transport.hpp"
#include "vmm/core/serial.hpp"
#include "vmm/event_loop.hpp"
#include "vmm/guest_memory.hpp"

namespace nexus::vmm {

class Machine {
 public:
  /// Build everything and open every host resource; nothing of the guest runs yet.
  static Result<std::unique_ptr<Machine>> create(const VmmConfig& config);
  ~Machine();

  /// Jail (if configured), start the vCPUs and serve until the guest stops. Returns the
  /// process exit status (docs/vmm.md).
  int run();

 private:
  explicit Machine(VmmConfig config);
  Result<void> setup();
  Result<void> load_guest();
  Result<void> add_virtio(std::unique_ptr<virtio::Device> device);
  Result<void> configure_vcpu(Vcpu& vcpu, const std::vector<kvm_cpuid_entry2>& cpuid);
  std::string boot_cmdline() const;

  void vcpu_main(Vcpu& vcpu);
  void handle_io(kvm_run* run);
  void handle_mmio(kvm_run* run);
  void request_exit(int code, std::string why);

  void on_control(const Json& req, ControlServer::Reply reply);
  void pause_all();
  void resume_all();
  void on_vcpu_paused();
  std::string state() const;

  VmmConfig config_;
  std::mutex device_lock_;
  Kvm kvm_;
  Vm vm_;
  GuestMemory mem_;
  uint64_t entry_ = 0;
  std::unique_ptr<EventLoop> loop_;
  UniqueFd serial_out_, serial_irq_, i8042_irq_;
  std::unique_ptr<Serial> serial_;
  std::unique_ptr<I8042> i8042_;
  std::vector<std::unique_ptr<MmioTransport>> transports_;
  std::vector<std::unique_ptr<Vcpu>> vcpus_;
  std::vector<std::thread> threads_;
  std::vector<pthread_t> handles_;
  std::unique_ptr<ControlServer> control_;
  UniqueFd control_fd_;

  // Pause protocol: the requester sets pause_requested_ and kicks every vCPU; each vCPU
  // parks itself and pokes paused_event_; replies go out once all are parked.
  std::mutex pause_mu_;
  std::condition_variable pause_cv_;
  bool pause_requested_ = false;
  unsigned parked_ = 0;
  UniqueFd paused_event_;
  std::vector<ControlServer::Reply> pause_waiters_;

  UniqueFd stop_timer_;
  std::atomic<int> exit_code_{-1};
  std::string exit_reason_;
};

}  // namespace nexus::vmm
