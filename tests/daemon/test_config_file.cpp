// SPDX-License-Identifier: Apache-2.0
// nexusd.toml: every key read into Settings, the defaults when absent, the command line over
// the file, and errors that name the file, the line and the reason.
#include <catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "daemon/config_file.hpp"
#include "temp_dir.hpp"

using namespace nexus;
using namespace nexus::daemon;

namespace {

// The error message of applying `text` as "/etc/nexus/nexusd.toml" ("" when it is accepted).
std::string error_of(const std::string& text) {
  Settings s;
  auto r = apply_config_text(text, "/etc/nexus/nexusd.toml", s);
  return r ? std::string() : r.error().message();
}

Settings from_text(const std::string& text) {
  Settings s;
  auto r = apply_config_text(text, "test.toml", s);
  INFO(text);
  REQUIRE(r);
  return s;
}

// Parses `args` (without argv[0]) over `s` the way nexusd does.
void parse_command_line(Settings& s, std::vector<std::string> args) {
  CLI::App app{"test", "nexusd"};
  std::string config_path = default_config_path();
  add_command_line_options(app, s, config_path);
  std::vector<const char*> argv = {"nexusd"};
  for (auto& a : args) argv.push_back(a.c_str());
  app.parse(static_cast<int>(argv.size()), argv.data());
}

constexpr const char* kEveryKey = R"(# every key, none at its default
[daemon]
root = "/srv/nexus"
run_dir = "/run/nx"
socket = "/run/nx/api.sock"
cache_dir = "/srv/cache"
agent = "/opt/nexus/nexus-agent"
log_level = "debug"
log_time = true

[e2b]
listen = "0.0.0.0:8080"

[sandbox]
isolation = "jail"
template = "python-data-science"
ttl = 3600
cpus = 4
memory_mib = 2048
pids_limit = 4096
disk_mib = 8192

[microvm]
vmm = "/opt/nexus/nexus-vmm"
guest_kernel = "/opt/nexus/vmlinux"
agent_initrd = "/opt/nexus/agent-initrd.cpio"
boot_timeout = 60
probe_timeout = 5

[registries]
credentials = "/etc/nexus/creds.json"
insecure = ["registry.local:5000", "10.0.0.5"]

[network]
pool = "172.30.0.0/20"

[egress]
default = "deny"
)";

}  // namespace

TEST_CASE("config file: the defaults when the file is empty or absent", "[config]") {
  Settings s = from_text("");
  CHECK(s.daemon.root_dir == "/var/lib/nexus");
  CHECK(s.daemon.run_dir == "/run/nexus");
  CHECK(s.daemon.socket_path.empty());  // <run_dir>/nexus.sock, resolved by main()
  CHECK(s.daemon.cache_dir == "/var/cache/nexus");
  CHECK(s.agent.empty());
  CHECK(s.log_level == "info");
  CHECK_FALSE(s.log_time);
  CHECK(s.e2b_listen == "127.0.0.1:49982");
  CHECK(s.daemon.isolation == "auto");
  CHECK(s.daemon.default_template == "ai-agent-default");
  CHECK(s.daemon.default_ttl_seconds == 600);
  CHECK(s.daemon.default_cpus == 1);
  CHECK(s.daemon.default_memory_mib == 512);
  CHECK(s.daemon.pids_limit == 512);
  CHECK(s.daemon.disk_size_mib == 4096);
  CHECK(s.vmm.empty());
  CHECK(s.guest_kernel.empty());
  CHECK(s.agent_initrd.empty());
  CHECK(s.boot_timeout_s == 30);
  CHECK(s.probe_timeout_s == 15);
  CHECK(s.registry_credentials.empty());
  CHECK(s.insecure_registries.empty());
  CHECK(s.daemon.network_pool == "10.88.0.0/16");
  CHECK(s.daemon.egress_default == "allow");

  // Sections without keys and comments change nothing either.
  Settings t = from_text("# nothing\n[daemon]\n[sandbox]\n[egress]\n");
  CHECK(t.daemon.default_ttl_seconds == 600);
  CHECK(t.daemon.egress_default == "allow");

  TempDir dir;
  Settings u;
  REQUIRE(apply_config_file(dir.path + "/absent.toml", false, u));  // the default path may be missing
  CHECK(u.daemon.root_dir == "/var/lib/nexus");
}

TEST_CASE("config file: every key is read", "[config]") {
  Settings s = from_text(kEveryKey);
  CHECK(s.daemon.root_dir == "/srv/nexus");
  CHECK(s.daemon.run_dir == "/run/nx");
  CHECK(s.daemon.socket_path == "/run/nx/api.sock");
  CHECK(s.daemon.cache_dir == "/srv/cache");
  CHECK(s.agent == "/opt/nexus/nexus-agent");
  CHECK(s.log_level == "debug");
  CHECK(s.log_time);
  CHECK(s.e2b_listen == "0.0.0.0:8080");
  CHECK(s.daemon.isolation == "jail");
  CHECK(s.daemon.default_template == "python-data-science");
  CHECK(s.daemon.default_ttl_seconds == 3600);
  CHECK(s.daemon.default_cpus == 4);
  CHECK(s.daemon.default_memory_mib == 2048);
  CHECK(s.daemon.pids_limit == 4096);
  CHECK(s.daemon.disk_size_mib == 8192);
  CHECK(s.vmm == "/opt/nexus/nexus-vmm");
  CHECK(s.guest_kernel == "/opt/nexus/vmlinux");
  CHECK(s.agent_initrd == "/opt/nexus/agent-initrd.cpio");
  CHECK(s.boot_timeout_s == 60);
  CHECK(s.probe_timeout_s == 5);
  CHECK(s.registry_credentials == "/etc/nexus/creds.json");
  CHECK(s.insecure_registries == std::vector<std::string>{"registry.local:5000", "10.0.0.5"});
  CHECK(s.daemon.network_pool == "172.30.0.0/20");
  CHECK(s.daemon.egress_default == "deny");
}

TEST_CASE("config file: other TOML spellings of the same keys", "[config]") {
  Settings s = from_text("sandbox.ttl = 30\ne2b = { listen = \"none\" }\n[daemon]\nlog_level = 'warning'\n");
  CHECK(s.daemon.default_ttl_seconds == 30);
  CHECK(s.e2b_listen == "none");
  CHECK(s.log_level == "warning");
  // Empty optional paths mean "search as usual".
  Settings t = from_text("[microvm]\nguest_kernel = \"\"\n[daemon]\nsocket = \"\"\n");
  CHECK(t.guest_kernel.empty());
  CHECK(t.daemon.socket_path.empty());
}

TEST_CASE("config file: the shipped packaging/nexusd.toml is all defaults", "[config]") {
  // Every key in it is commented out with its default: uncommenting all of them must be
  // accepted and change nothing.
  const char* source_root = std::getenv("NEXUS_SOURCE_ROOT");  // set by tests/daemon/meson.build
  REQUIRE(source_root != nullptr);
  std::ifstream in(std::string(source_root) + "/packaging/nexusd.toml");
  REQUIRE(in);
  std::string text, line;
  int keys = 0;
  while (std::getline(in, line)) {
    // "#key = value" lines are keys, "# text" lines are prose, "[x]" lines sections.
    if (line.size() > 1 && line[0] == '#' && line[1] != ' ' && line.find(" = ") != std::string::npos) {
      line = line.substr(1);
      ++keys;
    }
    text += line + "\n";
  }
  CHECK(keys == 31);  // every key of nexusd.toml(5)
  Settings s = from_text(text);
  Settings d;
  CHECK(s.daemon.root_dir == d.daemon.root_dir);
  CHECK(s.daemon.run_dir == d.daemon.run_dir);
  CHECK(s.daemon.socket_path == d.daemon.socket_path);
  CHECK(s.daemon.cache_dir == d.daemon.cache_dir);
  CHECK(s.e2b_listen == d.e2b_listen);
  CHECK(s.daemon.isolation == d.daemon.isolation);
  CHECK(s.daemon.default_template == d.daemon.default_template);
  CHECK(s.daemon.default_ttl_seconds == d.daemon.default_ttl_seconds);
  CHECK(s.daemon.default_cpus == d.daemon.default_cpus);
  CHECK(s.daemon.default_memory_mib == d.daemon.default_memory_mib);
  CHECK(s.daemon.pids_limit == d.daemon.pids_limit);
  CHECK(s.daemon.disk_size_mib == d.daemon.disk_size_mib);
  CHECK(s.boot_timeout_s == d.boot_timeout_s);
  CHECK(s.probe_timeout_s == d.probe_timeout_s);
  CHECK(s.log_level == d.log_level);
  CHECK(s.log_time == d.log_time);
  CHECK(s.insecure_registries == d.insecure_registries);
  CHECK(s.daemon.network_pool == d.daemon.network_pool);
  CHECK(s.daemon.egress_default == d.daemon.egress_default);
}

TEST_CASE("config file: the command line wins over the file", "[config]") {
  Settings s = from_text(kEveryKey);
  parse_command_line(s, {"--root", "/var/lib/other", "--isolation=auto", "--default-ttl", "60", "--default-cpus",
                         "2", "--default-memory", "1024", "--pids-limit", "100", "--disk-size", "512",
                         "--e2b-listen", "none", "--log-level", "error", "--no-log-time", "--network-pool",
                         "10.99.0.0/24", "--egress-default", "allow", "--insecure-registry", "r.test",
                         "--boot-timeout", "7", "--probe-timeout", "9", "--default-template", "node-fullstack"});
  CHECK(s.daemon.root_dir == "/var/lib/other");
  CHECK(s.daemon.isolation == "auto");
  CHECK(s.daemon.default_ttl_seconds == 60);
  CHECK(s.daemon.default_cpus == 2);
  CHECK(s.daemon.default_memory_mib == 1024);
  CHECK(s.daemon.pids_limit == 100);
  CHECK(s.daemon.disk_size_mib == 512);
  CHECK(s.e2b_listen == "none");
  CHECK(s.log_level == "error");
  CHECK_FALSE(s.log_time);
  CHECK(s.daemon.network_pool == "10.99.0.0/24");
  CHECK(s.daemon.egress_default == "allow");
  CHECK(s.insecure_registries == std::vector<std::string>{"r.test"});
  CHECK(s.boot_timeout_s == 7);
  CHECK(s.probe_timeout_s == 9);
  CHECK(s.daemon.default_template == "node-fullstack");
  // What the command line does not name keeps the file's value.
  CHECK(s.daemon.run_dir == "/run/nx");
  CHECK(s.daemon.cache_dir == "/srv/cache");
  CHECK(s.vmm == "/opt/nexus/nexus-vmm");
  CHECK(s.registry_credentials == "/etc/nexus/creds.json");

  Settings t;
  parse_command_line(t, {"--log-time", "--socket", "/x.sock", "--agent", "/a", "--vmm", "/v", "--guest-kernel",
                         "/k", "--agent-initrd", "/i", "--registry-credentials", "/c", "--run-dir", "/r",
                         "--cache-dir", "/cc"});
  CHECK(t.log_time);
  CHECK(t.daemon.socket_path == "/x.sock");
  CHECK(t.agent == "/a");
  CHECK(t.vmm == "/v");
  CHECK(t.guest_kernel == "/k");
  CHECK(t.agent_initrd == "/i");
  CHECK(t.registry_credentials == "/c");
  CHECK(t.daemon.run_dir == "/r");
  CHECK(t.daemon.cache_dir == "/cc");
}

TEST_CASE("config file: the command line checks values as the file does", "[config]") {
  for (std::vector<std::string> bad : std::vector<std::vector<std::string>>{
           {"--isolation", "vm"},
           {"--egress-default", "maybe"},
           {"--network-pool", "10.88.0.1/16"},
           {"--log-level", "loud"},
           {"--e2b-listen", "nowhere"},
           {"--default-cpus", "0"},
           {"--default-memory", "10"},
           {"--default-template", "../x"},
           {"--nonsense"},
       }) {
    Settings s;
    INFO(bad[0]);
    CHECK_THROWS_AS(parse_command_line(s, bad), CLI::ParseError);
  }
}

TEST_CASE("config file: --config is found before the real parse", "[config]") {
  const char* a[] = {"nexusd", "--root", "/x", "--config", "/etc/a.toml"};
  CHECK(find_config_argument(5, a) == std::optional<std::string>("/etc/a.toml"));
  const char* b[] = {"nexusd", "--config=/etc/b.toml", "--log-time"};
  CHECK(find_config_argument(3, b) == std::optional<std::string>("/etc/b.toml"));
  const char* c[] = {"nexusd", "--root", "/x"};
  CHECK_FALSE(find_config_argument(3, c));
  const char* d[] = {"nexusd", "--config"};  // CLI11 reports the missing value
  CHECK_FALSE(find_config_argument(2, d));
  CHECK(default_config_path().ends_with("/nexus/nexusd.toml"));
}

TEST_CASE("config file: errors name the file, the line and the reason", "[config]") {
  // Unknown keys and sections.
  CHECK(error_of("[sandbox]\nttl = 5\n\nisolaton = \"jail\"\n") ==
        "/etc/nexus/nexusd.toml:4: unknown key 'isolaton' in [sandbox]");
  CHECK(error_of("[daemon]\n[sandboxes]\nttl = 5\n") ==
        "/etc/nexus/nexusd.toml:2: unknown section [sandboxes] (known: [daemon], [e2b], [sandbox], [microvm], "
        "[registries], [network], [egress])");
  CHECK(error_of("# top\nroot = \"/x\"\n") ==
        "/etc/nexus/nexusd.toml:2: unknown key 'root' (keys belong in a section: [daemon], [e2b], [sandbox], "
        "[microvm], [registries], [network], [egress])");
  CHECK(error_of("[sandbox.limits]\ncpus = 2\n").starts_with("/etc/nexus/nexusd.toml:1: unknown key 'limits' in "
                                                              "[sandbox]"));
  CHECK(error_of("sandbox = 3\n") == "/etc/nexus/nexusd.toml:1: 'sandbox' must be a section ([sandbox]), not an integer");

  // Wrong types.
  CHECK(error_of("[sandbox]\n\nttl = \"600\"\n") ==
        "/etc/nexus/nexusd.toml:3: [sandbox] ttl: expected an integer, got a string");
  CHECK(error_of("[sandbox]\ncpus = 1.5\n") == "/etc/nexus/nexusd.toml:2: [sandbox] cpus: expected an integer, got a float");
  CHECK(error_of("[daemon]\nroot = 5\n") == "/etc/nexus/nexusd.toml:2: [daemon] root: expected a string, got an integer");
  CHECK(error_of("[daemon]\nlog_time = \"yes\"\n") ==
        "/etc/nexus/nexusd.toml:2: [daemon] log_time: expected true or false, got a string");
  CHECK(error_of("[registries]\ninsecure = \"r.test\"\n") ==
        "/etc/nexus/nexusd.toml:2: [registries] insecure: expected an array of strings, got a string");
  CHECK(error_of("[registries]\ninsecure = [\"a\", 1]\n").starts_with(
      "/etc/nexus/nexusd.toml:2: [registries] insecure: expected an array of strings, got an integer"));

  // Bad values.
  CHECK(error_of("[sandbox]\nisolation = \"vm\"\n") ==
        "/etc/nexus/nexusd.toml:2: [sandbox] isolation: 'vm' is not auto, microvm or jail");
  CHECK(error_of("[sandbox]\nttl = 0\n") == "/etc/nexus/nexusd.toml:2: [sandbox] ttl: 0 is out of range (1 to 604800)");
  CHECK(error_of("[sandbox]\ncpus = 65\n") == "/etc/nexus/nexusd.toml:2: [sandbox] cpus: 65 is out of range (1 to 64)");
  CHECK(error_of("[sandbox]\nmemory_mib = 63\n") ==
        "/etc/nexus/nexusd.toml:2: [sandbox] memory_mib: 63 is out of range (64 to 65536)");
  CHECK(error_of("[sandbox]\npids_limit = -1\n") ==
        "/etc/nexus/nexusd.toml:2: [sandbox] pids_limit: -1 is out of range (16 to 4194304)");
  CHECK(error_of("[sandbox]\ndisk_mib = 99999999999\n") ==
        "/etc/nexus/nexusd.toml:2: [sandbox] disk_mib: 99999999999 is out of range (64 to 1048576)");
  CHECK(error_of("[sandbox]\ntemplate = \"Bad Name\"\n") ==
        "/etc/nexus/nexusd.toml:2: [sandbox] template: 'Bad Name' is not a valid template name");
  CHECK(error_of("[microvm]\nboot_timeout = 601\n") ==
        "/etc/nexus/nexusd.toml:2: [microvm] boot_timeout: 601 is out of range (1 to 600)");
  CHECK(error_of("[microvm]\nprobe_timeout = 0\n") ==
        "/etc/nexus/nexusd.toml:2: [microvm] probe_timeout: 0 is out of range (1 to 120)");
  CHECK(error_of("[daemon]\nroot = \"var/lib/nexus\"\n") ==
        "/etc/nexus/nexusd.toml:2: [daemon] root: 'var/lib/nexus' is not an absolute path");
  CHECK(error_of("[daemon]\nrun_dir = \"\"\n") == "/etc/nexus/nexusd.toml:2: [daemon] run_dir: '' is not an absolute path");
  CHECK(error_of("[microvm]\nvmm = \"nexus-vmm\"\n") ==
        "/etc/nexus/nexusd.toml:2: [microvm] vmm: 'nexus-vmm' is not an absolute path");
  CHECK(error_of("[daemon]\nlog_level = \"verbose\"\n") ==
        "/etc/nexus/nexusd.toml:2: [daemon] log_level: 'verbose' is not debug, info, warning or error");
  CHECK(error_of("[e2b]\nlisten = \"127.0.0.1\"\n") ==
        "/etc/nexus/nexusd.toml:2: [e2b] listen: invalid address '127.0.0.1': expected HOST:PORT, e.g. "
        "127.0.0.1:49982 (or 'none')");
  CHECK(error_of("[e2b]\nlisten = \"127.0.0.1:70000\"\n").starts_with("/etc/nexus/nexusd.toml:2: [e2b] listen: "));
  CHECK(error_of("[registries]\ninsecure = [\"a b\"]\n") ==
        "/etc/nexus/nexusd.toml:2: [registries] insecure: 'a b' is not a registry HOST[:PORT]");
  CHECK(error_of("[egress]\ndefault = \"block\"\n") ==
        "/etc/nexus/nexusd.toml:2: [egress] default: 'block' is not allow or deny");

  // The address pool: an IPv4 network address with a usable prefix.
  CHECK(error_of("[network]\npool = \"10.88.0.0\"\n") ==
        "/etc/nexus/nexusd.toml:2: [network] pool: network pool '10.88.0.0': ADDRESS/PREFIX is needed, "
        "e.g. 10.88.0.0/16");
  CHECK(error_of("[network]\npool = \"10.88.0.1/16\"\n") ==
        "/etc/nexus/nexusd.toml:2: [network] pool: network pool '10.88.0.1/16': cidr '10.88.0.1/16': host bits "
        "set; the network is 10.88.0.0/16");
  CHECK(error_of("[network]\npool = \"10.0.0.0/7\"\n") ==
        "/etc/nexus/nexusd.toml:2: [network] pool: network pool '10.0.0.0/7': an IPv4 network from /8 to /28 is "
        "needed (each sandbox takes a /30)");
  CHECK(error_of("[network]\npool6 = \"auto\"\n").empty());
  CHECK(error_of("[network]\npool6 = \"none\"\n").empty());
  CHECK(error_of("[network]\npool6 = \"automatic\"\n").starts_with("/etc/nexus/nexusd.toml:2: [network] pool6: "));
  CHECK(error_of("[network]\npool6 = \"10.0.0.0/8\"\n").starts_with("/etc/nexus/nexusd.toml:2: [network] pool6: "));
  CHECK(error_of("[network]\npolicy_backend = \"iptables\"\n") ==
        "/etc/nexus/nexusd.toml:2: [network] policy_backend: 'iptables' is not auto, ebpf, nftables or none");
  CHECK(error_of("[network]\npool = \"fd00::/64\"\n").starts_with("/etc/nexus/nexusd.toml:2: [network] pool: "));
  CHECK(error_of("[network]\npool = \"10.88.0.0/16\"\n").empty());
  CHECK(error_of("[network]\npool = \"192.168.7.240/28\"\n").empty());
  CHECK(error_of("[network]\npool6 = \"fd4e:7800::/64\"\npolicy_backend = \"nftables\"\ndns_port = 5353\n").empty());

  // Syntax errors carry toml++'s reason and the line.
  auto syntax = error_of("[sandbox]\nttl = 5\ncpus = \n");
  CHECK(syntax.starts_with("/etc/nexus/nexusd.toml:3: "));
  auto unterminated = error_of("[daemon]\nroot = \"/var/lib/nexus\n");
  CHECK(unterminated.starts_with("/etc/nexus/nexusd.toml:2: "));
  auto duplicate = error_of("[sandbox]\nttl = 5\nttl = 6\n");
  CHECK(duplicate.starts_with("/etc/nexus/nexusd.toml:3: "));
  CHECK(error_of("[sandbox\n").starts_with("/etc/nexus/nexusd.toml:1: "));
}

TEST_CASE("config file: reading the file", "[config]") {
  TempDir dir;
  std::string path = dir.path + "/nexusd.toml";
  {
    std::ofstream out(path);
    out << "[sandbox]\ncpus = 3\n";
  }
  Settings s;
  REQUIRE(apply_config_file(path, true, s));
  CHECK(s.daemon.default_cpus == 3);

  // A missing file named with --config is an error; the default one may be missing.
  Settings t;
  auto missing = apply_config_file(dir.path + "/nope.toml", true, t);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message() == dir.path + "/nope.toml: No such file or directory");
  CHECK(apply_config_file(dir.path, false, t).error().message() == dir.path + ": not a regular file");
  CHECK(apply_config_file(dir.path + "/nope.toml", false, t));
  // A directory is not a file.
  auto directory = apply_config_file(dir.path, false, t);
  CHECK_FALSE(directory);

  {
    std::ofstream out(path);
    out << "[sandbox]\ncpus = 3\n\n\n[egress]\ndefault = \"open\"\n";
  }
  auto bad = apply_config_file(path, true, t);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message() == path + ":6: [egress] default: 'open' is not allow or deny");
}
