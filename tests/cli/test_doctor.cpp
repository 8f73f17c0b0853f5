// SPDX-License-Identifier: Apache-2.0
// `nexus doctor` and `sandbox create --isolation`: the checks from a host report, the output
// against a fake nexusd, and the flag's parsing.
#include <unistd.h>

#include <catch.hpp>
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/doctor.hpp"
#include "cli/exit_codes.hpp"
#include "cli/local_probe.hpp"
#include "common/strings.hpp"
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
  "cgroup": {"version": 1}
})J";

struct Captured {
  std::string out, err;
  Console console;
  Captured() {
    console.write_out = [this](std::string_view t) { out.append(t); };
    console.write_err = [this](std::string_view t) { err.append(t); };
    console.now_ms = [] { return int64_t{0}; };
  }
};

std::string temp_socket() { return fmt::format("/tmp/nexus-cli-doctor-{}-{}.sock", ::getpid(), random_hex(4)); }

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
  DoctorSource src{true, "/run/nexus/nexus.sock", "0.1.0", "", ""};
  auto checks = doctor_checks(Json::parse(pvm_host), src);
  REQUIRE(find(checks, "nexusd"));
  CHECK(find(checks, "nexusd")->status == "ok");
  CHECK(find(checks, "microvm")->status == "warn");
  CHECK(find(checks, "microvm")->detail.find("1600x slower") != std::string::npos);
  CHECK(find(checks, "kvm probe")->detail ==
        "812.4 ns per guest iteration, 0.50 ns native, 1600x (exit status 1, 230 ms)");
  CHECK(find(checks, "guest kernel")->status == "warn");
  CHECK(find(checks, "agent initrd")->status == "ok");
  CHECK(find(checks, "cgroup")->detail == "cgroup v1");
  CHECK(find(checks, "default isolation")->status == "ok");
  CHECK_FALSE(any_failed(checks));
  CHECK(doctor_summary(Json::parse(pvm_host)) ==
        "isolation: auto -> jail, because /dev/kvm runs guest kernel code 1600x slower than native (PVM or software emulation)");
}

TEST_CASE("doctor: a microvm default on a host without microVMs fails", "[cli][doctor]") {
  Json host = Json::parse(pvm_host);
  host["isolation"]["default"] = "microvm";
  auto checks = doctor_checks(host, DoctorSource{true, "s", "0.1.0", "", ""});
  CHECK(find(checks, "default isolation")->status == "fail");
  CHECK(any_failed(checks));
}

TEST_CASE("doctor: fields missing from the report are tolerated", "[cli][doctor]") {
  auto checks = doctor_checks(Json{{"microvm", {{"available", true}}}}, DoctorSource{true, "s", "0.1.0", "", ""});
  CHECK(find(checks, "microvm")->status == "ok");
  CHECK(find(checks, "cgroup")->status == "warn");
  CHECK(doctor_summary(Json::object()).rfind("isolation: unknown", 0) == 0);
  CHECK(doctor_checks(Json("garbage"), DoctorSource{}).size() == 1);  // only the daemon check
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
