// SPDX-License-Identifier: Apache-2.0
// `nexus doctor` and `sandbox create --isolation`: the checks from a host report, the output
// against a fake nexusd, and the flag's parsing.
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include <catch.hpp>
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/doctor.hpp"
#include "cli/exit_codes.hpp"
#include "cli/local_probe.hpp"
#include "common/host_facts.hpp"
#include "common/strings.hpp"
#include "captured.hpp"
#include "fake_nexusd.hpp"

using namespace nexus;
using namespace nexus::cli;
using nexus::cli::test::FakeNexusd;
using nexus::cli::test::Reply;
using nexus::cli::test::SeenRequest;

namespace {

// GET /v1/host of nexusd on a PVM development machine.
const char* pvm_host = R"J({
  "version": "0.1.0",
  "isolation": {"default": "auto", "auto": "jail",
                "explanation": "auto -> jail, because /dev/kvm runs guest kernel code 1600x slower than native (PVM or software emulation)"},
  "microvm": {"available": false, "reason": "/dev/kvm runs guest kernel code 1600x slower than native (PVM or software emulation)"},
  "jail": {"available": true},
  "probe": {"ran": true, "usable": false, "kvm": true, "exit_code": 1, "duration_ms": 230,
            "ns_per_iteration": 812.4, "native_ns_estimate": 0.5, "slowdown": 1600, "reason": "slow"},
  "vmm": {"path": "/usr/local/libexec/nexus/nexus-vmm", "present": true},
  "guest_kernel": {"path": "/var/lib/nexus/guest/vmlinux", "present": false},
  "agent_initrd": {"path": "/usr/local/libexec/nexus/agent-initrd.cpio", "present": true},
  "cgroup": {"version": 1},
  "system": {
    "kernel": {"release": "6.1.0-27-cloud-amd64", "machine": "x86_64"},
    "cgroup": {"version": 1, "controllers": ["cpu", "freezer", "memory", "pids"], "missing": [], "hybrid": true},
    "userns": {"available": true, "max": 63204},
    "ebpf": {"available": true}, "btf": {"available": true, "path": "/sys/kernel/btf/vmlinux"},
    "nftables": {"available": false, "kernel": "module", "reason": "the nft program is not installed (apt-get install nftables)"},
    "disk": {"path": "/var/lib/nexus", "free_bytes": 53687091200, "total_bytes": 107374182400}
  }
})J";

struct Captured : test::Captured {
  Captured() : test::Captured(0, [] { return int64_t{0}; }) {}
};

std::string temp_socket() { return test::temp_socket("cli-doctor"); }

int run(Captured& c, const std::string& socket, std::vector<std::string> args) {
  args.insert(args.begin(), {"--socket", socket});
  return run_cli(args, c.console, CommandEnv{});
}

Reply daemon_reply(const SeenRequest& req, const std::string& host) {
  if (req.target == "/v1/version") return FakeNexusd::json(200, R"({"version": "0.1.0", "api": 1})");
  if (req.target == "/v1/host") return FakeNexusd::json(200, host);
  return FakeNexusd::json(404, R"({"error": {"code": "not_found", "message": "no"}})");
}

const DoctorCheck* find(const std::vector<DoctorCheck>& checks, const std::string& name) {
  for (const auto& c : checks)
    if (c.name == name) return &c;
  return nullptr;
}

}  // namespace

TEST_CASE("doctor checks for a PVM host", "[cli][doctor]") {
  DoctorSource src{true, "/run/nexus/nexus.sock", "0.1.0", "", "", Json::parse(R"([{"name": "ai-agent-default", "status": "ready"}, {"name": "node-fullstack", "status": "not_built"}])")};
  auto checks = doctor_checks(Json::parse(pvm_host), src);
  REQUIRE(find(checks, "nexusd"));
  CHECK(find(checks, "nexusd")->status == "ok");
  CHECK(find(checks, "microvm")->status == "warn");
  CHECK(find(checks, "microvm")->detail.find("1600x slower") != std::string::npos);
  CHECK(find(checks, "kvm probe")->detail ==
        "812.4 ns per guest iteration, 0.50 ns native, 1600x (exit status 1, 230 ms)");
  CHECK(find(checks, "guest kernel")->status == "warn");
  CHECK(find(checks, "agent initrd")->status == "ok");
  CHECK(find(checks, "default isolation")->status == "ok");
  CHECK(find(checks, "kernel")->detail == "Linux 6.1.0-27-cloud-amd64 x86_64");
  CHECK(find(checks, "cgroups")->status == "ok");
  CHECK(find(checks, "cgroups")->detail == "cgroup v1 (hybrid): cpu freezer memory pids");
  CHECK(find(checks, "user namespaces")->status == "ok");
  CHECK(find(checks, "ebpf")->status == "ok");
  CHECK(find(checks, "btf")->status == "ok");
  CHECK(find(checks, "nftables")->status == "warn");
  CHECK(find(checks, "nftables")->detail == "the nft program is not installed (apt-get install nftables)");
  CHECK(find(checks, "disk")->detail == "50.0 GiB free of 100.0 GiB at /var/lib/nexus");
  CHECK(find(checks, "templates")->detail == "ai-agent-default ready (1 of 2 templates built)");
  CHECK_FALSE(any_failed(checks));
  CHECK(doctor_summary(Json::parse(pvm_host)) ==
        "isolation: auto -> jail, because /dev/kvm runs guest kernel code 1600x slower than native (PVM or software emulation)");
}

TEST_CASE("doctor: a microvm default on a host without microVMs fails", "[cli][doctor]") {
  Json host = Json::parse(pvm_host);
  host["isolation"]["default"] = "microvm";
  auto checks = doctor_checks(host, DoctorSource{true, "s", "0.1.0", "", "", nullptr});
  CHECK(find(checks, "default isolation")->status == "fail");
  CHECK(any_failed(checks));
}

TEST_CASE("doctor: fields missing from the report are tolerated", "[cli][doctor]") {
  auto checks = doctor_checks(Json{{"microvm", {{"available", true}}}}, DoctorSource{true, "s", "0.1.0", "", "", nullptr});
  CHECK(find(checks, "microvm")->status == "ok");
  CHECK(find(checks, "cgroups") == nullptr);  // no system facts, no such lines
  CHECK(find(checks, "templates") == nullptr);
  CHECK(doctor_summary(Json::object()).rfind("isolation: unknown", 0) == 0);
  CHECK(doctor_checks(Json("garbage"), DoctorSource{}).size() == 1);  // only the daemon check
}

TEST_CASE("doctor: what a host lacks fails or warns, with the fix", "[cli][doctor]") {
  Json host = Json::parse(pvm_host);
  Json& sys = host["system"];
  sys["kernel"]["release"] = "4.19.0-21-amd64";
  sys["cgroup"] = Json{{"version", 2}, {"controllers", {"cpu", "memory"}}, {"missing", {"pids", "freezer"}}};
  sys["userns"] = Json{{"available", false}, {"max", 0}, {"reason", "user.max_user_namespaces is 0 (sysctl -w user.max_user_namespaces=15000)"}};
  sys["ebpf"] = Json{{"available", false}, {"reason", "loading a TC program was refused (Operation not permitted): run as root (nexusd does)"}};
  sys["btf"]["available"] = false;
  sys["disk"]["free_bytes"] = uint64_t{3} << 29;  // 1.5 GiB
  auto checks = doctor_checks(host, DoctorSource{true, "s", "0.1.0", "", "", Json::parse(R"([{"name": "ai-agent-default", "status": "building"}])")});
  CHECK(find(checks, "kernel")->status == "fail");
  CHECK_THAT(find(checks, "kernel")->detail, Catch::Contains("needs 5.10 or later"));
  CHECK(find(checks, "cgroups")->status == "fail");
  CHECK_THAT(find(checks, "cgroups")->detail, Catch::Contains("missing controllers pids, freezer"));
  CHECK(find(checks, "user namespaces")->status == "fail");
  CHECK_THAT(find(checks, "user namespaces")->detail, Catch::Contains("sysctl -w user.max_user_namespaces"));
  CHECK(find(checks, "ebpf")->status == "warn");
  CHECK_THAT(find(checks, "ebpf")->detail, Catch::Contains("nftables backend"));
  CHECK(find(checks, "btf")->status == "warn");
  CHECK(find(checks, "disk")->status == "warn");
  CHECK(find(checks, "templates")->status == "warn");
  CHECK_THAT(find(checks, "templates")->detail, Catch::Contains("nexus template build ai-agent-default"));
  CHECK(any_failed(checks));
  sys["disk"]["free_bytes"] = uint64_t{100} << 20;
  CHECK(find(doctor_checks(host, DoctorSource{}), "disk")->status == "fail");
}

TEST_CASE("host facts of this machine are complete", "[cli][doctor]") {
  // The real /proc and /sys: every fact doctor reads is there, whatever its value here.
  Json facts = host::system_facts("/var/lib/nexus/does/not/exist");
  CHECK(facts["disk"]["path"].get<std::string>().find("/does/not/exist") == std::string::npos);  // the nearest existing parent
  for (const char* k : {"kernel", "cgroup", "userns", "ebpf", "btf", "nftables", "disk"}) CHECK(facts.contains(k));
  CHECK_FALSE(facts["kernel"]["release"].get<std::string>().empty());
  CHECK(facts["cgroup"]["version"].is_number_integer());
  CHECK(facts["disk"]["total_bytes"].get<uint64_t>() > 0);
  CHECK(facts["ebpf"]["available"].is_boolean());
  // The figures are this host's own.
  if (std::ifstream in("/proc/sys/user/max_user_namespaces"); in) {
    long long max = -1;
    in >> max;
    CHECK(facts["userns"]["max"].get<long long>() == max);
    CHECK(facts["userns"]["available"].get<bool>() == (max > 0));
  }
  if (std::ifstream in("/sys/fs/cgroup/cgroup.controllers"); in) {
    std::string c;
    while (in >> c) CHECK(std::find(facts["cgroup"]["controllers"].begin(), facts["cgroup"]["controllers"].end(), Json(c)) !=
                          facts["cgroup"]["controllers"].end());
  }
}

TEST_CASE("nexus doctor against nexusd: lines, summary, exit 0", "[cli][doctor]") {
  FakeNexusd server(temp_socket(), [](const SeenRequest& req) { return daemon_reply(req, pvm_host); });
  Captured c;
  CHECK(run(c, server.path(), {"doctor"}) == exit_ok);
  CHECK(c.out.find("ok    nexusd ") == 0);
  CHECK(c.out.find("\nwarn  microvm ") != std::string::npos);
  CHECK(c.out.find("\nwarn  guest kernel ") != std::string::npos);
  CHECK_THAT(c.out, Catch::EndsWith(
      "isolation: auto -> jail, because /dev/kvm runs guest kernel code 1600x slower than native (PVM or software emulation)\n"));
  CHECK(c.err.empty());

  Captured j;
  CHECK(run(j, server.path(), {"doctor", "--json"}) == exit_ok);
  Json out = Json::parse(j.out);
  CHECK(out["source"] == "nexusd");
  CHECK(out["daemon"]["reachable"] == true);
  CHECK(out["daemon"]["version"] == "0.1.0");
  CHECK(out["host"]["microvm"]["available"] == false);
  CHECK(out["ok"] == true);
  CHECK(out["checks"].size() >= 7);
  CHECK(out["summary"].get<std::string>().rfind("isolation: auto -> jail, because", 0) == 0);
}

TEST_CASE("nexus doctor: a failed check exits 1", "[cli][doctor]") {
  Json host = Json::parse(pvm_host);
  host["isolation"]["default"] = "microvm";
  FakeNexusd server(temp_socket(), [host](const SeenRequest& req) { return daemon_reply(req, host.dump()); });
  Captured c;
  CHECK(run(c, server.path(), {"doctor"}) == exit_failed);
  CHECK(c.out.find("fail  default isolation") != std::string::npos);
}

TEST_CASE("nexus doctor: an older nexusd without /v1/host", "[cli][doctor]") {
  FakeNexusd server(temp_socket(), [](const SeenRequest& req) -> Reply {
    if (req.target == "/v1/version") return FakeNexusd::json(200, R"({"version": "0.0.9", "api": 1})");
    return FakeNexusd::json(404, R"({"error": {"code": "not_found", "message": "no such endpoint '/v1/host'"}})");
  });
  Captured c;
  CHECK(run(c, server.path(), {"doctor"}) == exit_failed);
  CHECK(c.out.find("fail  host report") != std::string::npos);
  CHECK(c.out.find("no such endpoint") != std::string::npos);
}

TEST_CASE("nexus doctor without nexusd exits 3 and says so", "[cli][doctor]") {
  Captured c;
  std::string socket = temp_socket();
  CHECK(run(c, socket, {"doctor", "--json"}) == exit_unreachable);
  Json out = Json::parse(c.out);
  CHECK(out["daemon"]["reachable"] == false);
  CHECK(out["checks"][0]["status"] == "fail");
  CHECK(out["ok"] == false);
  CHECK(out.contains("note"));  // a local probe was made, or why it could not be
}

TEST_CASE("local probe verdicts read like nexusd's", "[cli][doctor]") {
  Json p = probe_report(R"({"usable": false, "kvm": true, "ns_per_iteration": 590, "native_ns_estimate": 0.5, "slowdown": 1180})",
                        1, true, "");
  CHECK(p["usable"] == false);
  CHECK(p["ran"] == true);
  CHECK(p["reason"] == "/dev/kvm runs guest kernel code 1180x slower than native (PVM or software emulation)");
  CHECK(probe_report("", 0, true, "")["usable"] == true);
  CHECK(probe_report(R"({"usable": false})", 0, true, "")["usable"] == false);
  CHECK(probe_report("", 2, true, "")["kvm"] == false);
  Json dead = probe_report("", -1, false, "'x --probe' did not finish within 15 s (killed)");
  CHECK(dead["ran"] == false);
  CHECK(dead["reason"] == "'x --probe' did not finish within 15 s (killed)");
}

TEST_CASE("sandbox create --isolation", "[cli][parse]") {
  CommandEnv env;
  for (const char* mode : {"auto", "microvm", "jail"}) {
    std::vector<std::string> args = {"sandbox", "create", "--isolation", mode};
    auto line = parse_command_line(args, env);
    REQUIRE(line.command);
    CHECK((*line.command->request.body)["isolation"] == mode);
  }
  std::vector<std::string> bad = {"sandbox", "create", "--isolation", "vm"};
  auto line = parse_command_line(bad, env);
  CHECK_FALSE(line.command);
  CHECK(line.exit_code == exit_usage);
  CHECK(line.err.find("unknown isolation 'vm' (valid: auto, microvm, jail)") != std::string::npos);
  std::vector<std::string> doctor = {"doctor", "--json"};
  auto d = parse_command_line(doctor, env);
  REQUIRE(d.command);
  CHECK(d.command->request.target == "/v1/host");
  CHECK(d.command->json);
}
