// SPDX-License-Identifier: Apache-2.0
// nexus-vmm: the Nexus KVM microVM monitor. Argument parsing and wiring only (docs/vmm.md).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "common/log.hpp"
#include "nexus_config.h"
#include "vmm/core/config.hpp"
#include "vmm/core/jailer.hpp"
#include "vmm/core/machine.hpp"
#include "vmm/core/probe.hpp"

namespace {

constexpr std::string_view kUsage =
    "Usage: nexus-vmm --config FILE [--log-level debug|info|warning|error]\n"
    "       nexus-vmm --probe [--json]\n"
    "\n"
    "The Nexus KVM microVM monitor: runs one microVM described by a JSON config (see\n"
    "docs/vmm.md), or probes whether /dev/kvm runs guest kernels at hardware speed.\n"
    "\n"
    "  --config FILE   run the microVM; exit 0 when the guest shuts down\n"
    "  --probe         time a CPL0 guest loop; exit 0 usable, 1 emulated, 2 no KVM\n"
    "  --json          print the probe result as JSON\n"
    "  --log-level L   log level (default info)\n"
    "  --help          show this help\n"
    "  --version       show the version\n";

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "nexus-vmm: %s\n%s", msg.c_str(), std::string(kUsage).c_str());
  return 2;
}

int run_probe(bool json) {
  auto r = nexus::vmm::probe_kvm();
  if (json) {
    std::printf("%s\n", nexus::dump_json(nexus::vmm::probe_json(r)).c_str());
  } else {
    std::printf("%s: %s\n", r.usable ? "usable" : "not usable", r.reason.c_str());
    if (r.kvm)
      std::printf("guest loop: %.2f ns/iteration, native: %.2f ns/iteration (%.1fx)\n",
                  r.guest_ns_per_iteration, r.native_ns_per_iteration, r.slowdown);
  }
  return !r.kvm ? 2 : r.usable ? 0 : 1;
}

int run_config(const std::string& path) {
  using namespace nexus;
  std::string text;
  {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      log::error("vmm", "opening config '{}': {}", path, std::strerror(errno));
      return 1;
    }
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0 && text.size() < (1 << 20))
      text.append(buf, static_cast<size_t>(n));
    ::close(fd);
  }
  auto config = vmm::parse_config(text);
  if (!config) {
    log::error("vmm", "{}: {}", path, config.error().message());
    return 1;
  }
  auto machine = vmm::Machine::create(*config);
  if (!machine) {
    log::error("vmm", "{}: {}", config->id, machine.error().message());
    return 1;
  }
  // Never destroyed: vCPU threads may still be in KVM_RUN on its kvm_run mappings when the
  // guest stops, and the process exits right after run() returns.
  return machine->release()->run();
}

}  // namespace

int main(int argc, char** argv) {
  // Nothing the parent leaked reaches the process that faces the guest.
  (void)nexus::vmm::close_other_fds({});
  std::string config_path;
  bool probe = false, json = false;
  std::string level_name = "info";
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fwrite(kUsage.data(), 1, kUsage.size(), stdout);
      return 0;
    } else if (a == "--version") {
      std::printf("nexus-vmm %s\n", NEXUS_VERSION);
      return 0;
    } else if (a == "--config") {
      if (i + 1 >= argc) return usage_error("--config needs a file");
      config_path = argv[++i];
    } else if (a == "--probe") {
      probe = true;
    } else if (a == "--json") {
      json = true;
    } else if (a == "--log-level") {
      if (i + 1 >= argc) return usage_error("--log-level needs a level");
      level_name = argv[++i];
    } else {
      return usage_error("unknown argument '" + std::string(a) + "'");
    }
  }
  nexus::log::Level level;
  if (!nexus::log::parse_level(level_name, level)) return usage_error("invalid --log-level");
  nexus::log::set_level(level);
  nexus::log::set_sink(2, true);
  if (probe == !config_path.empty()) return usage_error("give exactly one of --config, --probe");
  int code = probe ? run_probe(json) : run_config(config_path);
  std::fflush(stdout);
  std::fflush(stderr);
  ::_exit(code);  // vCPU threads may still sit in KVM_RUN: no destructors race with them
}
