// SPDX-License-Identifier: Apache-2.0
// Tests for wait-status formatting (Go os.ProcessState compatible).
#include <catch.hpp>

#include <signal.h>
#include <sys/wait.h>

#include "guest-agent/exit_status.hpp"

using namespace nexus::agent;

static int exited_status(int code) { return (code & 0xff) << 8; }

TEST_CASE("exit statuses are described like Go", "[exit]") {
  auto ok = describe_wait_status(exited_status(0));
  CHECK(ok.exit_code == 0);
  CHECK(ok.exited);
  CHECK(ok.status == "exit status 0");
  CHECK(ok.error.empty());
  auto j = exit_info_json(ok);
  CHECK_FALSE(j.contains("error"));

  auto three = describe_wait_status(exited_status(3));
  CHECK(three.exit_code == 3);
  CHECK(three.status == "exit status 3");
  CHECK(three.error == "exit status 3");

  auto killed = describe_wait_status(SIGKILL);
  CHECK(killed.exit_code == -1);
  CHECK_FALSE(killed.exited);
  CHECK(killed.status == "signal: killed");
  CHECK(killed.error == "signal: killed");
  auto kj = exit_info_json(killed);
  CHECK(kj["exitCode"] == -1);
  CHECK(kj["exited"] == false);
  CHECK(kj["error"] == "signal: killed");

  CHECK(describe_wait_status(SIGTERM).status == "signal: terminated");
  CHECK(describe_wait_status(SIGINT).status == "signal: interrupt");
  CHECK(describe_wait_status(SIGHUP).status == "signal: hangup");
  CHECK(describe_wait_status(SIGSEGV).status == "signal: segmentation fault");
  CHECK(describe_wait_status(SIGABRT | 0x80).status == "signal: aborted (core dumped)");
  CHECK(go_signal_name(40) == "signal 40");
}
