// SPDX-License-Identifier: Apache-2.0
// nexusd's settings: the configuration file (nexusd.toml, read with toml++) and the command
// line over it. Every key is documented, with its default, in man/nexusd.toml.5.scd.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "daemon/config.hpp"

namespace CLI {
class App;
}

namespace nexus::daemon {

/// Where nexusd looks for its configuration file when --config is not given: a missing file
/// there is not an error (every key has a default).
std::string default_config_path();

/// Everything nexusd is configured with. `daemon` holds what the rest of the daemon reads;
/// the other fields are resolved by main() (paths searched for, addresses parsed).
struct Settings {
  DaemonConfig daemon;
  // [daemon]
  std::string agent;  ///< empty: search (NEXUS_AGENT, the build tree, libexecdir/nexus)
  std::string log_level = "info";
  bool log_time = false;
  // [e2b]
  std::string e2b_listen = "127.0.0.1:49982";  ///< HOST:PORT, or "none"
  // [microvm] (paths empty: search, see nexusd --help)
  std::string vmm;
  std::string guest_kernel;
  std::string agent_initrd;
  uint64_t boot_timeout_s = 30;
  uint64_t probe_timeout_s = 15;
  // [registries]
  std::string registry_credentials;  ///< empty: /etc/nexus/registries.json when it exists
  std::vector<std::string> insecure_registries;
  // [network] and [egress] keys go to daemon.network_* and daemon.egress_default / gateway_*.

  /// --check-config (command line only): check the file and the options, then exit.
  bool check_only = false;
};

/// Apply the TOML text `text` (read from `path`, which only names it in errors) onto `out`:
/// keys present replace the values already there, the others are left alone.
/// Errors read "<path>:<line>: <reason>" (syntax errors, unknown sections and keys, wrong
/// types, values out of range); `out` may be partly updated then.
[[nodiscard]] Result<void> apply_config_text(std::string_view text, const std::string& path, Settings& out);

/// Read and apply the file at `path`. A file that does not exist is an error only when
/// `required` (the user named it with --config).
[[nodiscard]] Result<void> apply_config_file(const std::string& path, bool required, Settings& out);

/// The --config argument of argv, if any ("--config PATH" or "--config=PATH"), found before
/// the real parse so that the command line can be applied over the file. nullopt when absent.
std::optional<std::string> find_config_argument(int argc, const char* const* argv);

/// Register nexusd's command-line options on `app`, writing into `s`. Parse after the file
/// has been applied: an option that is given replaces the file's value (the command line
/// wins) and the help shows the values in effect. `config_path` receives --config.
void add_command_line_options(CLI::App& app, Settings& s, std::string& config_path);

/// The checks both the file and the command line apply; nullopt when `value` is valid,
/// else why not (for example "must be auto, microvm or jail").
std::optional<std::string> check_isolation(std::string_view value);
std::optional<std::string> check_log_level(std::string_view value);
std::optional<std::string> check_listen(std::string_view value);
std::optional<std::string> check_network_pool(std::string_view value);
std::optional<std::string> check_network_pool6(std::string_view value);
std::optional<std::string> check_policy_backend(std::string_view value);
std::optional<std::string> check_firewall_table(std::string_view value);
std::optional<std::string> check_dns_upstream(std::string_view value);
std::optional<std::string> check_egress_default(std::string_view value);
std::optional<std::string> check_template_name(std::string_view value);

}  // namespace nexus::daemon
