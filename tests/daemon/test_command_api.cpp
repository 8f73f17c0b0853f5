// SPDX-License-Identifier: Apache-2.0
// Tests for the run endpoint's language mapping.
#include <catch.hpp>

#include "daemon/command_api.hpp"

using namespace nexus;
using namespace nexus::daemon;

TEST_CASE("run languages map to interpreters", "[run]") {
  CHECK(run_command_for("python", "print(1)")->cmd == "/usr/bin/python3");
  CHECK(run_command_for("javascript", "1")->args.at(0) == "-e");
  CHECK(run_command_for("bash", "echo")->cmd == "/bin/bash");
  auto bad = run_command_for("cobol", "x");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message().find("cobol") != std::string::npos);
}
