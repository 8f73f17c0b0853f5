// SPDX-License-Identifier: Apache-2.0
// nexusd.toml (toml++) and the command line over it.
#include "daemon/config_file.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <type_traits>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <toml++/toml.h>

#include "common/log.hpp"
#include "common/strings.hpp"
#include "common/unique_fd.hpp"
#include "daemon/e2b_server.hpp"
#include "daemon/nexusd_paths.h"
#include "rootfs/template_def.hpp"
#include "net/dns/address.hpp"
#include "net/nft/host_firewall.hpp"
#include "net/sandbox_network.hpp"

namespace nexus::daemon {
namespace {

constexpr size_t kMaxConfigBytes = 1 << 20;
// The limits nexusd applies to a create request (sandbox_manager.cpp), so that a default
// from the file can never be one a request could not ask for.
constexpr int64_t kMaxTtlSeconds = 7 * 24 * 3600;

using Check = std::function<std::optional<std::string>(std::string_view)>;
/// Applies one key's value; returns why it is not acceptable (no location), or nullopt.
using Setter = std::function<std::optional<std::string>(const toml::node&, Settings&)>;

struct KeySpec {
  std::string_view key;
  Setter set;
};

struct SectionSpec {
  std::string_view name;
  std::vector<KeySpec> keys;
};

std::string type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

std::string expected(std::string_view what, const toml::node& n) {
  return fmt::format("expected {}, got {}", what, type_name(n.type()));
}

template <class Get>
Setter string_value(Get get, Check check = nullptr) {
  return [get, check](const toml::node& n, Settings& s) -> std::optional<std::string> {
    auto v = n.value_exact<std::string>();
    if (!v) return expected("a string", n);
    if (check)
      if (auto why = check(*v)) return why;
    get(s) = *v;
    return std::nullopt;
  };
}

std::optional<std::string> check_absolute(std::string_view v) {
  if (v.empty() || v.front() != '/') return fmt::format("'{}' is not an absolute path", v);
  if (v.find('\0') != std::string_view::npos) return "a path cannot hold a NUL byte";
  return std::nullopt;
}

// An optional path: "" means "use the default" (search for it).
std::optional<std::string> check_absolute_or_empty(std::string_view v) {
  return v.empty() ? std::nullopt : check_absolute(v);
}

template <class Get>
Setter int_value(Get get, int64_t min, int64_t max) {
  return [get, min, max](const toml::node& n, Settings& s) -> std::optional<std::string> {
    auto v = n.value_exact<int64_t>();
    if (!v) return expected("an integer", n);
    if (*v < min || *v > max) return fmt::format("{} is out of range ({} to {})", *v, min, max);
    using T = std::remove_reference_t<decltype(get(s))>;
    get(s) = static_cast<T>(*v);
    return std::nullopt;
  };
}

template <class Get>
Setter bool_value(Get get) {
  return [get](const toml::node& n, Settings& s) -> std::optional<std::string> {
    auto v = n.value_exact<bool>();
    if (!v) return expected("true or false", n);
    get(s) = *v;
    return std::nullopt;
  };
}

template <class Get>
Setter string_array(Get get, Check check) {
  return [get, check](const toml::node& n, Settings& s) -> std::optional<std::string> {
    const auto* arr = n.as_array();
    if (!arr) return expected("an array of strings", n);
    std::vector<std::string> out;
    for (const auto& item : *arr) {
      auto v = item.value_exact<std::string>();
      if (!v) return expected("an array of strings", item) + " in it";
      if (auto why = check(*v)) return why;
      out.push_back(*v);
    }
    get(s) = std::move(out);
    return std::nullopt;
  };
}

std::optional<std::string> check_registry_host(std::string_view v) {
  if (v.empty() || v.find_first_of("/ \t") != std::string_view::npos)
    return fmt::format("'{}' is not a registry HOST[:PORT]", v);
  return std::nullopt;
}

// The table of keys: section, key, how it is read and checked. Keep it in step with
// add_command_line_options() and man/nexusd.toml.5.scd.
const std::vector<SectionSpec>& sections() {
  static const std::vector<SectionSpec> table = {
      {"daemon",
       {
           {"root", string_value([](Settings& s) -> auto& { return s.daemon.root_dir; }, check_absolute)},
           {"run_dir", string_value([](Settings& s) -> auto& { return s.daemon.run_dir; }, check_absolute)},
           {"socket", string_value([](Settings& s) -> auto& { return s.daemon.socket_path; }, check_absolute_or_empty)},
           {"cache_dir", string_value([](Settings& s) -> auto& { return s.daemon.cache_dir; }, check_absolute)},
           {"agent", string_value([](Settings& s) -> auto& { return s.agent; }, check_absolute_or_empty)},
           {"log_level", string_value([](Settings& s) -> auto& { return s.log_level; }, check_log_level)},
           {"log_time", bool_value([](Settings& s) -> auto& { return s.log_time; })},
       }},
      {"e2b",
       {
           {"listen", string_value([](Settings& s) -> auto& { return s.e2b_listen; }, check_listen)},
       }},
      {"sandbox",
       {
           {"isolation", string_value([](Settings& s) -> auto& { return s.daemon.isolation; }, check_isolation)},
           {"template",
            string_value([](Settings& s) -> auto& { return s.daemon.default_template; }, check_template_name)},
           {"ttl", int_value([](Settings& s) -> auto& { return s.daemon.default_ttl_seconds; }, 1, kMaxTtlSeconds)},
           {"cpus", int_value([](Settings& s) -> auto& { return s.daemon.default_cpus; }, 1, 64)},
           {"memory_mib", int_value([](Settings& s) -> auto& { return s.daemon.default_memory_mib; }, 64, 65536)},
           {"pids_limit", int_value([](Settings& s) -> auto& { return s.daemon.pids_limit; }, 16, 4194304)},
           {"disk_mib", int_value([](Settings& s) -> auto& { return s.daemon.disk_size_mib; }, 64, 1 << 20)},
       }},
      {"microvm",
       {
           {"vmm", string_value([](Settings& s) -> auto& { return s.vmm; }, check_absolute_or_empty)},
           {"guest_kernel", string_value([](Settings& s) -> auto& { return s.guest_kernel; }, check_absolute_or_empty)},
           {"agent_initrd", string_value([](Settings& s) -> auto& { return s.agent_initrd; }, check_absolute_or_empty)},
           {"boot_timeout", int_value([](Settings& s) -> auto& { return s.boot_timeout_s; }, 1, 600)},
           {"probe_timeout", int_value([](Settings& s) -> auto& { return s.probe_timeout_s; }, 1, 120)},
       }},
      {"registries",
       {
           {"credentials",
            string_value([](Settings& s) -> auto& { return s.registry_credentials; }, check_absolute_or_empty)},
           {"insecure", string_array([](Settings& s) -> auto& { return s.insecure_registries; }, check_registry_host)},
       }},
      {"network",
       {
           {"pool", string_value([](Settings& s) -> auto& { return s.daemon.network_pool; }, check_network_pool)},
           {"pool6", string_value([](Settings& s) -> auto& { return s.daemon.network_pool6; }, check_network_pool6)},
           {"policy_backend",
            string_value([](Settings& s) -> auto& { return s.daemon.policy_backend; }, check_policy_backend)},
           {"dns_port", int_value([](Settings& s) -> auto& { return s.daemon.dns_port; }, 1, 65535)},
           {"dns_upstreams",
            string_array([](Settings& s) -> auto& { return s.daemon.dns_upstreams; }, check_dns_upstream)},
           {"firewall_table",
            string_value([](Settings& s) -> auto& { return s.daemon.firewall_table; }, check_firewall_table)},
       }},
      {"egress",
       {
           {"default",
            string_value([](Settings& s) -> auto& { return s.daemon.egress_default; }, check_egress_default)},
           {"http_port", int_value([](Settings& s) -> auto& { return s.daemon.gateway_http_port; }, 1, 65535)},
           {"tls_port", int_value([](Settings& s) -> auto& { return s.daemon.gateway_tls_port; }, 1, 65535)},
       }},
  };
  return table;
}

std::string section_list() {
  std::string out;
  for (const auto& s : sections()) out += (out.empty() ? "[" : ", [") + std::string(s.name) + "]";
  return out;
}

std::string located(const std::string& path, const toml::source_region& where, std::string_view reason) {
  if (where.begin.line == 0) return fmt::format("{}: {}", path, reason);
  return fmt::format("{}:{}: {}", path, where.begin.line, reason);
}

// Adapts a check to a CLI11 validator: CLI11 wants "" for a valid value.
CLI::Validator validator(Check check, std::string name) {
  return CLI::Validator([check](std::string& v) { return check(v).value_or(std::string()); }, "", std::move(name));
}

}  // namespace

std::string default_config_path() { return std::string(NEXUS_SYSCONFDIR) + "/nexus/nexusd.toml"; }

std::optional<std::string> check_isolation(std::string_view v) {
  if (v == "auto" || v == "microvm" || v == "jail") return std::nullopt;
  return fmt::format("'{}' is not auto, microvm or jail", v);
}

std::optional<std::string> check_log_level(std::string_view v) {
  log::Level level;
  if (log::parse_level(v, level)) return std::nullopt;
  return fmt::format("'{}' is not debug, info, warning or error", v);
}

std::optional<std::string> check_listen(std::string_view v) {
  if (v == "none") return std::nullopt;
  auto a = parse_listen_address(std::string(v));
  if (!a) return a.error().message() + " (or 'none')";
  return std::nullopt;
}

std::optional<std::string> check_network_pool(std::string_view v) {
  if (auto p = net::AddressPool::parse(v); !p) return p.error().message();
  return std::nullopt;
}

std::optional<std::string> check_network_pool6(std::string_view v) {
  if (v.empty() || v == "auto" || v == "none") return std::nullopt;
  if (auto p = net::AddressPool::parse("10.0.0.0/8", v); !p) return p.error().message();
  return std::nullopt;
}

std::optional<std::string> check_dns_upstream(std::string_view v) {
  if (auto a = net::dns::SocketAddress::parse(v, 53); !a) return a.error().message();
  return std::nullopt;
}

std::optional<std::string> check_firewall_table(std::string_view v) {
  if (net::nft::valid_table_name(v)) return std::nullopt;
  return fmt::format("'{}' is not a table name (1-32 of a-z, 0-9, _)", v);
}

std::optional<std::string> check_policy_backend(std::string_view v) {
  if (v == "auto" || v == "ebpf" || v == "nftables" || v == "none") return std::nullopt;
  return fmt::format("'{}' is not auto, ebpf, nftables or none", v);
}

std::optional<std::string> check_egress_default(std::string_view v) {
  if (v == "allow" || v == "deny") return std::nullopt;
  return fmt::format("'{}' is not allow or deny", v);
}

std::optional<std::string> check_template_name(std::string_view v) {
  if (rootfs::is_valid_template_name(v)) return std::nullopt;
  return fmt::format("'{}' is not a valid template name", v);
}

Result<void> apply_config_text(std::string_view text, const std::string& path, Settings& out) {
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    return fail(Errc::invalid_argument, located(path, e.source(), e.description()));
  }
  for (auto&& [name, node] : root) {
    const SectionSpec* section = nullptr;
    for (const auto& s : sections())
      if (s.name == name.str()) section = &s;
    if (!section) {
      if (!node.is_table())
        return fail(Errc::invalid_argument,
                    located(path, name.source(),
                            fmt::format("unknown key '{}' (keys belong in a section: {})", name.str(), section_list())));
      return fail(Errc::invalid_argument,
                  located(path, name.source(),
                          fmt::format("unknown section [{}] (known: {})", name.str(), section_list())));
    }
    const auto* table = node.as_table();
    if (!table)
      return fail(Errc::invalid_argument,
                  located(path, node.source(), fmt::format("'{}' must be a section ([{}]), not {}", name.str(),
                                                           name.str(), type_name(node.type()))));
    for (auto&& [key, value] : *table) {
      const KeySpec* spec = nullptr;
      for (const auto& k : section->keys)
        if (k.key == key.str()) spec = &k;
      if (!spec)
        return fail(Errc::invalid_argument,
                    located(path, key.source(), fmt::format("unknown key '{}' in [{}]", key.str(), section->name)));
      if (auto why = spec->set(value, out))
        return fail(Errc::invalid_argument,
                    located(path, value.source(), fmt::format("[{}] {}: {}", section->name, key.str(), *why)));
    }
  }
  return {};
}

Result<void> apply_config_file(const std::string& path, bool required, Settings& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT && !required) return {};
    return fail(Errc::invalid_argument, fmt::format("{}: {}", path, std::strerror(errno)));
  }
  UniqueFd file(fd);
  struct stat st{};
  if (::fstat(file.get(), &st) != 0) return fail(Errc::invalid_argument, fmt::format("{}: {}", path, std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) return fail(Errc::invalid_argument, fmt::format("{}: not a regular file", path));
  if (static_cast<uint64_t>(st.st_size) > kMaxConfigBytes)
    return fail(Errc::invalid_argument, fmt::format("{}: larger than 1 MiB", path));
  std::string text;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(file.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(Errc::invalid_argument, fmt::format("{}: {}", path, std::strerror(errno)));
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxConfigBytes) return fail(Errc::invalid_argument, fmt::format("{}: larger than 1 MiB", path));
  }
  return apply_config_text(text, path, out);
}

std::optional<std::string> find_config_argument(int argc, const char* const* argv) {
  std::optional<std::string> found;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--") break;
    if (a == "--config" && i + 1 < argc) found = argv[++i];
    else if (a.starts_with("--config=")) found = std::string(a.substr(9));
  }
  return found;
}

void add_command_line_options(CLI::App& app, Settings& s, std::string& config_path) {
  DaemonConfig& cfg = s.daemon;
  app.add_option("--config", config_path,
                 "Configuration file (TOML, see nexusd.toml(5)); options given here override it. A missing default "
                 "file is fine, a missing named one is an error")
      ->capture_default_str();
  app.add_option("--root", cfg.root_dir, "State directory (database, templates, sandboxes)")->capture_default_str();
  app.add_option("--run-dir", cfg.run_dir, "Runtime directory (sockets)")->capture_default_str();
  app.add_option("--socket", cfg.socket_path, "API socket path (default <run-dir>/nexus.sock)");
  app.add_option("--agent", s.agent, "Path of the static nexus-agent binary");
  app.add_option("--e2b-listen", s.e2b_listen,
                 "Address of the E2B-compatible endpoint (HOST:PORT, or 'none' to turn it off)")
      ->check(validator(check_listen, "HOST:PORT"))
      ->capture_default_str();
  app.add_option("--cache-dir", cfg.cache_dir, "Cache for template bases, keyed by input hash")->capture_default_str();
  app.add_option("--default-ttl", cfg.default_ttl_seconds, "Default sandbox TTL in seconds")
      ->check(CLI::Range(int64_t{1}, kMaxTtlSeconds))
      ->capture_default_str();
  app.add_option("--default-template", cfg.default_template, "Template of sandboxes that do not name one")
      ->check(validator(check_template_name, "NAME"))
      ->capture_default_str();
  app.add_option("--default-cpus", cfg.default_cpus, "vCPUs of sandboxes that do not ask (template defaults first)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--default-memory", cfg.default_memory_mib,
                 "Memory in MiB of sandboxes that do not ask (template defaults first)")
      ->check(CLI::Range(64, 65536))
      ->capture_default_str();
  app.add_option("--pids-limit", cfg.pids_limit, "Most processes a sandbox may run (its pids cgroup)")
      ->check(CLI::Range(uint64_t{16}, uint64_t{4194304}))
      ->capture_default_str();
  app.add_option("--disk-size", cfg.disk_size_mib, "Size in MiB of a microVM's writable disk (sparse)")
      ->check(CLI::Range(uint64_t{64}, uint64_t{1} << 20))
      ->capture_default_str();
  app.add_option("--isolation", cfg.isolation,
                 "Isolation of sandboxes that do not ask: auto (microvm when this host runs guest kernels at "
                 "hardware speed and a guest kernel and agent initrd are present, else jail), microvm or jail")
      ->check(validator(check_isolation, "auto|microvm|jail"))
      ->capture_default_str();
  app.add_option("--vmm", s.vmm, "Path of nexus-vmm (default: $NEXUS_VMM, the build tree, libexecdir/nexus)");
  app.add_option("--guest-kernel", s.guest_kernel,
                 "Guest kernel (uncompressed vmlinux) for microVMs (default: $NEXUS_GUEST_KERNEL, <root>/guest/vmlinux, "
                 "the cached build of packaging/guest-kernel/build-guest-kernel, else libexecdir/nexus/vmlinux)");
  app.add_option("--agent-initrd", s.agent_initrd,
                 "The agent's initramfs for microVMs (default: $NEXUS_AGENT_INITRD, the build tree, "
                 "libexecdir/nexus/agent-initrd.cpio)");
  app.add_option("--boot-timeout", s.boot_timeout_s, "Seconds a microVM's agent has to answer after start")
      ->check(CLI::Range(1, 600))
      ->capture_default_str();
  app.add_option("--probe-timeout", s.probe_timeout_s, "Seconds the start-up probe of /dev/kvm may take")
      ->check(CLI::Range(1, 120))
      ->capture_default_str();
  app.add_option("--registry-credentials", s.registry_credentials,
                 "Registry credentials for image pulls (JSON: {\"registries\": {\"host[:port]\": {\"username\", "
                 "\"password\"}}}; default /etc/nexus/registries.json when it exists)");
  app.add_option("--insecure-registry", s.insecure_registries,
                 "Pull from this HOST[:PORT] over plain http (repeatable, replaces the file's list; loopback "
                 "registries always may)");
  app.add_option("--network-pool", cfg.network_pool,
                 "IPv4 network sandbox addresses come from (a /30 per sandbox)")
      ->check(validator(check_network_pool, "CIDR"))
      ->capture_default_str();
  app.add_option("--network-pool6", cfg.network_pool6,
                 "IPv6 network sandbox addresses come from (a /126 per sandbox): a CIDR, auto (a unique-local "
                 "/64 when the host has an IPv6 default route) or none")
      ->check(validator(check_network_pool6, "CIDR|auto|none"))
      ->capture_default_str();
  app.add_option("--policy-backend", cfg.policy_backend,
                 "What enforces sandbox network rules: auto (ebpf, else nftables), ebpf, nftables or none "
                 "(unfiltered: only when you mean it)")
      ->check(validator(check_policy_backend, "auto|ebpf|nftables|none"))
      ->capture_default_str();
  app.add_option("--firewall-table", cfg.firewall_table,
                 "The nftables table (inet) of sandbox NAT and the host's protection; one per nexusd")
      ->check(validator(check_firewall_table, "NAME"))
      ->capture_default_str();
  app.add_option("--dns-upstream", cfg.dns_upstreams,
                 "A resolver sandboxes' DNS goes to, ADDRESS[:PORT] (repeatable; default: /etc/resolv.conf's)")
      ->check(validator(check_dns_upstream, "ADDRESS"));
  app.add_option("--dns-port", cfg.dns_port, "The DNS forwarder's port (sandbox DNS is redirected to it)")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  app.add_option("--egress-http-port", cfg.gateway_http_port,
                 "The egress gateway's port for HTTP (sandbox TCP to port 80 is redirected to it)")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  app.add_option("--egress-tls-port", cfg.gateway_tls_port,
                 "The egress gateway's port for TLS (sandbox TCP to port 443)")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  app.add_option("--egress-default", cfg.egress_default,
                 "Sandboxes' outbound traffic when no rule matches: allow or deny")
      ->check(validator(check_egress_default, "allow|deny"))
      ->capture_default_str();
  app.add_option("--log-level", s.log_level, "debug, info, warning or error")
      ->check(validator(check_log_level, "LEVEL"))
      ->capture_default_str();
  app.add_flag("--log-time,!--no-log-time", s.log_time, "Prefix log lines with the time and pid (or not)");
  app.add_flag("--check-config", s.check_only,
               "Check the configuration file and the options, print the file's name and exit: 0 when valid, 2 "
               "when not");
}

}  // namespace nexus::daemon
