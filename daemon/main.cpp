// SPDX-License-Identifier: Apache-2.0
// nexusd: the per-host Nexus daemon.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>

#include <CLI/CLI.hpp>

#include "common/log.hpp"
#include "common/uv.hpp"
#include "daemon/api_server.hpp"
#include "daemon/auth.hpp"
#include "daemon/e2b_server.hpp"
#include "daemon/host_paths.hpp"
#include "daemon/image_service.hpp"
#include "daemon/isolation.hpp"
#include "daemon/listen_fds.hpp"
#include "daemon/sandbox_manager.hpp"
#include "daemon/store.hpp"
#include "daemon/template_service.hpp"
#include "nexus_config.h"
#include "rootfs/oci/auth.hpp"

namespace {

// Exit codes (documented in nexusd --help and docs/api.md).
constexpr int kExitOk = 0;
constexpr int kExitUsage = 2;
constexpr int kExitStartup = 3;

}  // namespace

int main(int argc, char** argv) {
  using namespace nexus;
  daemon::DaemonConfig cfg;
  std::string agent_flag, vmm_flag, kernel_flag, initrd_flag, log_level = "info", e2b_listen = "127.0.0.1:49982";
  uint64_t boot_timeout_s = cfg.boot_timeout_ms / 1000, probe_timeout_s = cfg.probe_timeout_ms / 1000;
  bool log_time = false;
  std::string registry_credentials;
  std::vector<std::string> insecure_registries;
  CLI::App app{"nexusd: the Nexus sandbox daemon. Serves the native API on a Unix socket and runs\n"
               "sandboxes in microVMs or in a namespace jail.",
               "nexusd"};
  app.set_version_flag("--version", std::string("nexusd ") + NEXUS_VERSION);
  app.add_option("--root", cfg.root_dir, "State directory (database, templates, sandboxes)")->capture_default_str();
  app.add_option("--run-dir", cfg.run_dir, "Runtime directory (sockets)")->capture_default_str();
  app.add_option("--socket", cfg.socket_path, "API socket path (default <run-dir>/nexus.sock)");
  app.add_option("--agent", agent_flag, "Path of the static nexus-agent binary");
  app.add_option("--e2b-listen", e2b_listen,
                 "Address of the E2B-compatible endpoint (HOST:PORT, or 'none' to turn it off)")
      ->capture_default_str();
  app.add_option("--cache-dir", cfg.cache_dir, "Cache for template bases, keyed by input hash")->capture_default_str();
  app.add_option("--default-ttl", cfg.default_ttl_seconds, "Default sandbox TTL in seconds")->capture_default_str();
  app.add_option("--isolation", cfg.isolation,
                 "Isolation of sandboxes that do not ask: auto (microvm when this host runs guest kernels at "
                 "hardware speed and a guest kernel and agent initrd are present, else jail), microvm or jail")
      ->check(CLI::IsMember({"auto", "microvm", "jail"}))
      ->capture_default_str();
  app.add_option("--vmm", vmm_flag, "Path of nexus-vmm (default: $NEXUS_VMM, the build tree, libexecdir/nexus)");
  app.add_option("--guest-kernel", kernel_flag,
                 "Guest kernel (uncompressed vmlinux) for microVMs (default: $NEXUS_GUEST_KERNEL, <root>/guest/vmlinux, "
                 "else the cached build of packaging/guest-kernel/build-guest-kernel)");
  app.add_option("--agent-initrd", initrd_flag,
                 "The agent's initramfs for microVMs (default: $NEXUS_AGENT_INITRD, the build tree, "
                 "libexecdir/nexus/agent-initrd.cpio)");
  app.add_option("--boot-timeout", boot_timeout_s, "Seconds a microVM's agent has to answer after start")
      ->check(CLI::Range(1, 600))
      ->capture_default_str();
  app.add_option("--probe-timeout", probe_timeout_s, "Seconds the start-up probe of /dev/kvm may take")
      ->check(CLI::Range(1, 120))
      ->capture_default_str();
  app.add_option("--registry-credentials", registry_credentials,
                 "Registry credentials for image pulls (JSON: {\"registries\": {\"host[:port]\": {\"username\", "
                 "\"password\"}}}; default /etc/nexus/registries.json when it exists)");
  app.add_option("--insecure-registry", insecure_registries,
                 "Pull from this HOST[:PORT] over plain http (repeatable; loopback registries always may)");
  app.add_option("--log-level", log_level, "debug, info, warning or error")->capture_default_str();
  app.add_flag("--log-time", log_time, "Prefix log lines with the time and pid");
  app.footer("Socket activation: sockets named 'nexus' (the API) and 'e2b' (the E2B endpoint) passed by\n"
             "systemd (sd_listen_fds) are used instead of binding --socket and --e2b-listen.\n"
             "Exit status: 0 clean shutdown, 2 usage error, 3 start-up failure (the message says why).");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  log::Level level;
  if (!log::parse_level(log_level, level)) {
    std::cerr << "nexusd: unknown log level '" << log_level << "'\n";
    return kExitUsage;
  }
  log::set_level(level);
  log::set_sink(2, log_time);
  if (cfg.socket_path.empty()) cfg.socket_path = cfg.run_dir + "/nexus.sock";
  cfg.agent_path = daemon::absolute_path(daemon::find_agent(agent_flag));
  if (const char* cache = std::getenv("NEXUS_CACHE_DIR"); cache && *cache && cfg.cache_dir == "/var/cache/nexus")
    cfg.cache_dir = cache;
  cfg.vmm_path = daemon::absolute_path(daemon::find_vmm(vmm_flag));
  cfg.agent_initrd = daemon::absolute_path(daemon::find_agent_initrd(initrd_flag));
  cfg.guest_kernel = daemon::absolute_path(daemon::find_guest_kernel(kernel_flag, cfg.root_dir, cfg.cache_dir));
  cfg.boot_timeout_ms = boot_timeout_s * 1000;
  cfg.probe_timeout_ms = probe_timeout_s * 1000;

  auto die = [](const std::string& msg) {
    log::error("nexusd", "{}", msg);
    return kExitStartup;
  };
  if (geteuid() != 0) return die("nexusd must run as root (it creates namespaces, cgroups and mounts)");
  if (::access(cfg.agent_path.c_str(), X_OK) != 0)
    return die("cannot find the nexus-agent binary at '" + cfg.agent_path + "' (use --agent)");
  ::signal(SIGPIPE, SIG_IGN);
  ::umask(022);
  // Every E2B stream is a connection (and a proxied one two descriptors): use the whole
  // open-file allowance (the soft limit is often 1024 by default).
  if (rlimit nofile{}; ::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &nofile);
  }
  std::optional<std::pair<std::string, uint16_t>> e2b_address;
  if (e2b_listen != "none" && !e2b_listen.empty()) {
    auto a = daemon::parse_listen_address(e2b_listen);
    if (!a) {
      std::cerr << "nexusd: --e2b-listen: " << a.error().message() << "\n";
      return kExitUsage;
    }
    e2b_address = *a;
  }
  auto activated = daemon::take_activated_sockets();
  if (!activated) return die(activated.error().message());
  std::error_code ec;
  for (auto* dir : {&cfg.root_dir, &cfg.run_dir}) {
    std::filesystem::create_directories(*dir, ec);
    if (ec) return die("creating '" + *dir + "': " + ec.message());
  }
  ::chmod(cfg.root_dir.c_str(), 0711);
  ::chmod(cfg.run_dir.c_str(), 0755);

  auto store = daemon::Store::open(cfg.root_dir + "/nexus.db");
  if (!store) return die(store.error().message());
  if (registry_credentials.empty() && ::access("/etc/nexus/registries.json", F_OK) == 0)
    registry_credentials = "/etc/nexus/registries.json";
  if (!registry_credentials.empty()) {  // read again at each pull; checked now so a typo shows at start
    if (auto c = oci::Credentials::load(registry_credentials); !c)
      return die("--registry-credentials: " + c.error().message());
  }
  // The probe runs once, before anything is served: `auto` and GET /v1/host use its result.
  microvm::ProbeResult probe;
  if (::access(cfg.vmm_path.c_str(), X_OK) == 0) {
    probe = microvm::run_probe(cfg.vmm_path, cfg.probe_timeout_ms);
  } else {
    probe.reason = "nexus-vmm is not installed at '" + cfg.vmm_path + "'";
  }
  auto host = daemon::inspect_host(cfg, std::move(probe));
  log::info("nexusd", "host probe ({} ms): {}; isolation {}: {}", host.probe.duration_ms, host.probe.reason,
            cfg.isolation, daemon::auto_explanation(host));
  if (cfg.isolation == "microvm") {
    if (auto why = daemon::microvm_unavailable(host))
      log::warning("nexusd", "--isolation microvm, but microVMs cannot run here ({}): creates will fail", *why);
  }

  uv::Loop loop;
  daemon::SandboxManager manager(loop, **store, cfg);
  manager.set_host(std::move(host));
  if (auto r = manager.reconcile(); !r) return die("reconciling state: " + r.error().message());
  daemon::TemplateService templates(loop, manager.config(),
                                    [&manager](const std::string& name) { return manager.count_using_template(name); });
  daemon::KeyService keys(**store);
  daemon::ImageServiceOptions image_options{cfg.root_dir, registry_credentials, insecure_registries, cfg.uid_base,
                                            cfg.uid_count};
  daemon::ImageService images(loop, **store, std::move(image_options));
  daemon::ApiServer api(loop, manager, templates, keys, images);
  std::string api_where = cfg.socket_path;
  if (activated->api) {
    api_where = "an activated socket";
    if (auto r = api.listen_fd(std::move(activated->api)); !r) return die(r.error().message());
  } else if (auto r = api.listen(cfg.socket_path); !r) {
    return die(r.error().message());
  }
  daemon::E2bServer e2b(loop, manager, keys);
  if (activated->e2b) {
    if (auto r = e2b.listen_fd(std::move(activated->e2b)); !r) return die(r.error().message());
  } else if (e2b_address) {
    if (auto r = e2b.listen(e2b_address->first, e2b_address->second); !r) return die(r.error().message());
  }
  api.set_e2b_url(e2b.url());
  manager.start_sweeper();

  uv::Signal sigterm(loop), sigint(loop);
  auto shutdown = [&](int sig) {
    log::info("nexusd", "signal {}: shutting down (sandboxes keep running and are adopted on restart)", sig);
    api.close();
    e2b.close();
    loop.stop();
  };
  sigterm.start(SIGTERM, shutdown);
  sigint.start(SIGINT, shutdown);
  log::info("nexusd", "nexusd {} ready on {}; E2B endpoint {} (root {}, agent {})", NEXUS_VERSION, api_where,
            e2b.url().empty() ? std::string("off") : e2b.url(), cfg.root_dir, cfg.agent_path);
  loop.run();
  if (api_where == cfg.socket_path) ::unlink(cfg.socket_path.c_str());  // systemd owns an activated one
  return kExitOk;
}
