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
#include <string_view>

#include <CLI/CLI.hpp>

#include "common/log.hpp"
#include "common/uv.hpp"
#include "daemon/api_server.hpp"
#include "daemon/auth.hpp"
#include "daemon/config_file.hpp"
#include "daemon/e2b_server.hpp"
#include "common/host_paths.hpp"
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

// --help and --version describe the built-in defaults and work whatever the file holds.
bool wants_help_or_version(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--") break;
    if (a == "-h" || a == "--help" || a == "--version") return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace nexus;
  // Taken first: no helper or sandbox may inherit systemd's notification socket.
  auto notifier = daemon::ServiceNotifier::from_environment();
  daemon::Settings settings;
  daemon::DaemonConfig& cfg = settings.daemon;
  std::string config_path = daemon::default_config_path();
  if (!wants_help_or_version(argc, argv)) {
    auto named = daemon::find_config_argument(argc, argv);
    if (named) config_path = *named;
    if (auto r = daemon::apply_config_file(config_path, named.has_value(), settings); !r) {
      std::cerr << "nexusd: " << r.error().message() << "\n";
      return kExitUsage;
    }
  }
  CLI::App app{"nexusd: the Nexus sandbox daemon. Serves the native API on a Unix socket and runs\n"
               "sandboxes in microVMs or in a namespace jail.",
               "nexusd"};
  app.set_version_flag("--version", std::string("nexusd ") + NEXUS_VERSION);
  daemon::add_command_line_options(app, settings, config_path);
  app.footer("Configuration: every option also has a key in the configuration file (nexusd.toml(5));\n"
             "options given on the command line win over the file.\n"
             "Socket activation: sockets named 'nexus' (the API) and 'e2b' (the E2B endpoint) passed by\n"
             "systemd (sd_listen_fds) are used instead of binding --socket and --e2b-listen. With\n"
             "NOTIFY_SOCKET set (Type=notify), READY=1 is sent once sandboxes are reconciled and the\n"
             "sockets are served.\n"
             "Exit status: 0 clean shutdown, 2 usage or configuration error, 3 start-up failure (the\n"
             "message says why).");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  if (settings.check_only) {
    std::cout << "nexusd: configuration " << config_path
              << (::access(config_path.c_str(), F_OK) == 0 ? " is valid" : " is absent (built-in defaults)") << "\n";
    return kExitOk;
  }
  log::Level level = log::Level::info;
  (void)log::parse_level(settings.log_level, level);  // checked by the file and the option
  log::set_level(level);
  log::set_sink(2, settings.log_time);
  if (cfg.socket_path.empty()) cfg.socket_path = cfg.run_dir + "/nexus.sock";
  cfg.agent_path = nexus::absolute_path(nexus::find_agent(settings.agent));
  if (const char* cache = std::getenv("NEXUS_CACHE_DIR"); cache && *cache && cfg.cache_dir == "/var/cache/nexus")
    cfg.cache_dir = cache;
  cfg.vmm_path = nexus::absolute_path(nexus::find_vmm(settings.vmm));
  cfg.agent_initrd = nexus::absolute_path(nexus::find_agent_initrd(settings.agent_initrd));
  cfg.guest_kernel =
      nexus::absolute_path(nexus::find_guest_kernel(settings.guest_kernel, cfg.root_dir, cfg.cache_dir));
  // The Debian package ships the guest kernel it was built with beside the agent's initrd.
  if (std::string packaged = std::string(NEXUS_LIBEXECDIR) + "/nexus/vmlinux";
      settings.guest_kernel.empty() && ::access(cfg.guest_kernel.c_str(), R_OK) != 0 &&
      ::access(packaged.c_str(), R_OK) == 0)
    cfg.guest_kernel = packaged;
  cfg.boot_timeout_ms = settings.boot_timeout_s * 1000;
  cfg.probe_timeout_ms = settings.probe_timeout_s * 1000;
  std::string registry_credentials = settings.registry_credentials;
  const std::vector<std::string>& insecure_registries = settings.insecure_registries;
  log::debug("nexusd", "configuration file '{}'{}", config_path,
             ::access(config_path.c_str(), F_OK) == 0 ? "" : " (absent: built-in defaults)");

  auto die = [&notifier](const std::string& msg) {
    log::error("nexusd", "{}", msg);
    (void)notifier.notify("STATUS=Start-up failed: " + msg);  // best effort: we exit anyway
    return kExitStartup;
  };
  // A notification systemd does not get only costs a status line: log it and go on.
  auto notify = [&notifier](const std::string& state) {
    if (auto r = notifier.notify(state); !r) log::warning("nexusd", "{}", r.error().message());
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
  if (settings.e2b_listen != "none" && !settings.e2b_listen.empty()) {
    auto a = daemon::parse_listen_address(settings.e2b_listen);
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
  // The probe may take probe_timeout: ask for that much more start-up time (systemd >= 240).
  notify(fmt::format("STATUS=Probing /dev/kvm\nEXTEND_TIMEOUT_USEC={}", (cfg.probe_timeout_ms + 30000) * 1000));
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
  notify("STATUS=Reconciling sandboxes with what is running");
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
    notify("STOPPING=1\nSTATUS=Shutting down (sandboxes keep running)");
    api.close();
    e2b.close();
    loop.stop();
  };
  sigterm.start(SIGTERM, shutdown);
  sigint.start(SIGINT, shutdown);
  log::info("nexusd", "nexusd {} ready on {}; E2B endpoint {} (root {}, agent {})", NEXUS_VERSION, api_where,
            e2b.url().empty() ? std::string("off") : e2b.url(), cfg.root_dir, cfg.agent_path);
  // Only now: sandboxes are adopted or reaped, and both sockets are served.
  notify(fmt::format("READY=1\nSTATUS=Serving the API on {}; E2B endpoint {}; {} sandboxes", api_where,
                     e2b.url().empty() ? std::string("off") : e2b.url(), manager.live_count()));
  loop.run();
  if (api_where == cfg.socket_path) ::unlink(cfg.socket_path.c_str());  // systemd owns an activated one
  return kExitOk;
}
