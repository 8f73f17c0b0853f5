// SPDX-License-Identifier: Apache-2.0
// The isolation decision: the probe's output (lenient parsing, running it with a deadline),
// what `auto` picks for each combination of facts, and the error for an explicit microvm.
#include <catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "daemon/isolation.hpp"
#include "daemon/microvm/probe.hpp"

using namespace nexus;
using namespace nexus::daemon;

namespace {

constexpr const char* kPvmJson =
    R"({"usable": false, "kvm": true, "ns_per_iteration": 812.4, "native_ns_estimate": 0.5, "slowdown": 1600, "reason": "slow"})";

HostFacts good_host() {
  HostFacts h;
  h.probe = microvm::parse_probe_output(R"({"usable": true, "kvm": true, "slowdown": 1.1, "reason": "fast"})", 0);
  h.vmm_path = "/x/nexus-vmm";
  h.vmm_present = true;
  h.guest_kernel = "/x/vmlinux";
  h.kernel_present = true;
  h.agent_initrd = "/x/agent-initrd.cpio";
  h.initrd_present = true;
  return h;
}

struct Script {
  std::string path;
  explicit Script(const std::string& body) {
    char tmpl[] = "/tmp/nexus-probe-XXXXXX";
    int fd = mkstemp(tmpl);
    REQUIRE(fd >= 0);
    close(fd);
    path = tmpl;
    std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
    chmod(path.c_str(), 0755);
  }
  ~Script() { unlink(path.c_str()); }
};

}  // namespace

TEST_CASE("probe JSON from a PVM host", "[isolation][probe]") {
  auto p = microvm::parse_probe_output(kPvmJson, 1);
  CHECK(p.ran);
  CHECK_FALSE(p.usable);
  CHECK(p.kvm);
  CHECK(*p.ns_per_iteration == Approx(812.4));
  CHECK(*p.native_ns_estimate == Approx(0.5));
  CHECK(*p.slowdown == Approx(1600));
  CHECK(p.reason == "slow");
  CHECK(microvm::probe_verdict(p) ==
        "/dev/kvm runs guest kernel code 1600x slower than native (PVM or software emulation)");
}

TEST_CASE("probe output is read leniently", "[isolation][probe]") {
  SECTION("usable needs exit status 0 and no JSON saying otherwise") {
    CHECK(microvm::parse_probe_output(R"({"usable": true})", 0).usable);
    CHECK(microvm::parse_probe_output("", 0).usable);
    CHECK_FALSE(microvm::parse_probe_output(R"({"usable": false})", 0).usable);
    CHECK_FALSE(microvm::parse_probe_output(R"({"usable": true})", 1).usable);
  }
  SECTION("unknown fields and wrong types are ignored") {
    auto p = microvm::parse_probe_output(R"({"kvm": "yes", "slowdown": "big", "extra": [1], "iterations": 5})", 1);
    CHECK(p.ran);
    CHECK(p.kvm);  // from the exit status
    CHECK_FALSE(p.slowdown);
  }
  SECTION("the slowdown is computed when only the timings are given") {
    auto p = microvm::parse_probe_output(R"({"ns_per_iteration": 590, "native_ns_per_iteration": 0.5})", 1);
    CHECK(*p.native_ns_estimate == Approx(0.5));
    CHECK(*p.slowdown == Approx(1180));
    CHECK(microvm::probe_verdict(p) ==
          "/dev/kvm runs guest kernel code 1180x slower than native (PVM or software emulation)");
  }
  SECTION("progress lines before the JSON") {
    auto p = microvm::parse_probe_output(std::string("timing...\nstill timing\n") + kPvmJson + "\n", 1);
    CHECK(*p.slowdown == Approx(1600));
  }
  SECTION("not JSON: the exit status decides") {
    auto p = microvm::parse_probe_output("garbage", 1);
    CHECK(p.ran);
    CHECK_FALSE(p.usable);
    CHECK(p.kvm);
    CHECK_FALSE(p.reason.empty());
  }
  SECTION("exit status 2: no KVM") {
    auto p = microvm::parse_probe_output("", 2);
    CHECK(p.ran);
    CHECK_FALSE(p.kvm);
    CHECK(p.reason == "/dev/kvm is missing or cannot run a VM");
    CHECK(microvm::probe_verdict(p) == p.reason);
  }
  SECTION("an unknown exit status without JSON is no verdict") {
    auto p = microvm::parse_probe_output("", 127);
    CHECK_FALSE(p.ran);
    CHECK_FALSE(p.usable);
  }
}

TEST_CASE("running the probe: exit statuses, timeouts, missing binaries", "[isolation][probe]") {
  SECTION("a verdict") {
    Script s(std::string("echo '") + kPvmJson + "'; exit 1");
    auto p = microvm::run_probe(s.path, 5000);
    CHECK(p.ran);
    CHECK_FALSE(p.usable);
    CHECK(p.exit_code == 1);
    CHECK(*p.slowdown == Approx(1600));
  }
  SECTION("arguments") {
    Script s("[ \"$1 $2\" = '--probe --json' ] && echo '{\"usable\": true}' && exit 0; exit 9");
    CHECK(microvm::run_probe(s.path, 5000).usable);
  }
  SECTION("killed on overrun, also when it forked") {
    Script s("sleep 30 & sleep 30");
    auto p = microvm::run_probe(s.path, 300);
    CHECK_FALSE(p.ran);
    CHECK(p.duration_ms < 5000);
    CHECK(p.reason.find("did not finish within 300 ms") != std::string::npos);
  }
  SECTION("a crash with a message") {
    Script s("echo 'nexus-vmm: something broke' >&2; exit 70");
    auto p = microvm::run_probe(s.path, 5000);
    CHECK_FALSE(p.ran);
    CHECK(p.reason.find("something broke") != std::string::npos);
  }
  SECTION("no such binary") {
    auto p = microvm::run_probe("/nonexistent/nexus-vmm", 1000);
    CHECK_FALSE(p.ran);
    CHECK(p.reason.find("No such file") != std::string::npos);
  }
}

TEST_CASE("isolation names", "[isolation]") {
  CHECK(*parse_isolation("auto") == Isolation::automatic);
  CHECK(*parse_isolation("microvm") == Isolation::microvm);
  CHECK(*parse_isolation("jail") == Isolation::jail);
  auto bad = parse_isolation("vm");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().is(Errc::invalid_argument));
  CHECK(bad.error().message() == "isolation must be auto, microvm or jail, not 'vm'");
  for (auto i : {Isolation::automatic, Isolation::microvm, Isolation::jail})
    CHECK(*parse_isolation(isolation_name(i)) == i);
}

TEST_CASE("auto picks microvm only when everything is there", "[isolation]") {
  HostFacts h = good_host();
  CHECK(*choose_isolation(Isolation::automatic, h) == "microvm");
  CHECK(*choose_isolation(Isolation::microvm, h) == "microvm");
  CHECK(*choose_isolation(Isolation::jail, h) == "jail");
  CHECK_FALSE(microvm_unavailable(h));
  CHECK(auto_explanation(h) == "auto -> microvm (fast)");

  struct Case {
    const char* what;
    std::function<void(HostFacts&)> change;
    std::string reason_part;
  };
  std::vector<Case> cases = {
      {"slow /dev/kvm", [](HostFacts& f) { f.probe = microvm::parse_probe_output(kPvmJson, 1); }, "1600x slower"},
      {"no KVM", [](HostFacts& f) { f.probe = microvm::parse_probe_output("", 2); }, "/dev/kvm is missing"},
      {"probe did not run", [](HostFacts& f) { f.probe = microvm::ProbeResult{}; f.probe.reason = "killed"; }, "killed"},
      {"no nexus-vmm", [](HostFacts& f) { f.vmm_present = false; }, "nexus-vmm is not installed"},
      {"no guest kernel", [](HostFacts& f) { f.kernel_present = false; }, "no guest kernel at '/x/vmlinux'"},
      {"no initrd", [](HostFacts& f) { f.initrd_present = false; }, "no agent initrd at '/x/agent-initrd.cpio'"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    HostFacts f = good_host();
    c.change(f);
    CHECK(*choose_isolation(Isolation::automatic, f) == "jail");
    CHECK(*choose_isolation(Isolation::jail, f) == "jail");
    auto explicit_vm = choose_isolation(Isolation::microvm, f);
    REQUIRE_FALSE(explicit_vm);
    CHECK(explicit_vm.error().is(Errc::conflict));
    CHECK(explicit_vm.error().message().rfind("microvm isolation is not available on this host: ", 0) == 0);
    CHECK(explicit_vm.error().message().find(c.reason_part) != std::string::npos);
    CHECK(explicit_vm.error().message().find("; use --isolation jail") != std::string::npos);
    CHECK(auto_explanation(f).rfind("auto -> jail, because ", 0) == 0);
  }
}

TEST_CASE("the explicit microvm error on a PVM host, word for word", "[isolation]") {
  HostFacts h = good_host();
  h.probe = microvm::parse_probe_output(R"({"usable": false, "kvm": true, "slowdown": 1180.2})", 1);
  auto r = choose_isolation(Isolation::microvm, h);
  REQUIRE_FALSE(r);
  CHECK(r.error().message() ==
        "microvm isolation is not available on this host: /dev/kvm runs guest kernel code 1180x slower than native "
        "(PVM or software emulation); use --isolation jail");
}

TEST_CASE("the host report", "[isolation]") {
  HostFacts h = good_host();
  h.probe = microvm::parse_probe_output(kPvmJson, 1);
  h.kernel_present = false;
  Json j = host_json(h, Isolation::automatic);
  CHECK(j["microvm"]["available"] == false);
  CHECK(j["microvm"]["reason"].get<std::string>().find("1600x slower") != std::string::npos);
  CHECK(j["isolation"]["default"] == "auto");
  CHECK(j["isolation"]["auto"] == "jail");
  CHECK(j["isolation"]["explanation"].get<std::string>().rfind("auto -> jail, because /dev/kvm runs", 0) == 0);
  CHECK(j["probe"]["ran"] == true);
  CHECK(j["probe"]["usable"] == false);
  CHECK(j["probe"]["slowdown"] == 1600);
  CHECK(j["probe"]["ns_per_iteration"] == 812.4);
  CHECK(j["guest_kernel"] == Json{{"path", "/x/vmlinux"}, {"present", false}});
  CHECK(j["agent_initrd"]["present"] == true);
  CHECK(j["vmm"]["path"] == "/x/nexus-vmm");
  CHECK(j["cgroup"]["version"] == 1);
  CHECK(j["jail"]["available"] == true);
  CHECK(j.contains("version"));
  // Without a probe figure, the number fields are left out rather than made up.
  HostFacts bare;
  Json b = host_json(bare, Isolation::jail);
  CHECK_FALSE(b["probe"].contains("slowdown"));
  CHECK(b["isolation"]["default"] == "jail");
}
