// SPDX-License-Identifier: Apache-2.0
// The restart policy's decisions and back-off (the runs themselves: integration-template_build).
#include <catch.hpp>

#include "daemon/start_command.hpp"

using nexus::daemon::ProcessEnd;
using nexus::daemon::StartCommand;
using nexus::rootfs::Restart;
using nexus::rootfs::RestartPolicy;

namespace {
ProcessEnd exited(int code) { return ProcessEnd{code, true, "exit status " + std::to_string(code), ""}; }
ProcessEnd killed() { return ProcessEnd{-1, false, "signal: killed", ""}; }
}  // namespace

TEST_CASE("restart policy: never, always, on-failure[:N]", "[daemon][start_command]") {
  Restart never{RestartPolicy::never, 0};
  CHECK_FALSE(StartCommand::should_restart(never, exited(1), 0));
  CHECK_FALSE(StartCommand::should_restart(never, killed(), 0));

  Restart always{RestartPolicy::always, 0};
  CHECK(StartCommand::should_restart(always, exited(0), 0));
  CHECK(StartCommand::should_restart(always, exited(3), 1000));

  Restart on_failure{RestartPolicy::on_failure, 0};
  CHECK_FALSE(StartCommand::should_restart(on_failure, exited(0), 0));
  CHECK(StartCommand::should_restart(on_failure, exited(2), 0));
  CHECK(StartCommand::should_restart(on_failure, killed(), 500));  // 0: no limit

  Restart twice{RestartPolicy::on_failure, 2};
  CHECK(StartCommand::should_restart(twice, exited(1), 0));
  CHECK(StartCommand::should_restart(twice, exited(1), 1));
  CHECK_FALSE(StartCommand::should_restart(twice, exited(1), 2));
  CHECK_FALSE(StartCommand::should_restart(twice, exited(0), 0));
}

TEST_CASE("restart back-off doubles from 100 ms up to 30 s", "[daemon][start_command]") {
  using std::chrono::milliseconds;
  CHECK(StartCommand::backoff(0) == milliseconds(100));
  CHECK(StartCommand::backoff(1) == milliseconds(200));
  CHECK(StartCommand::backoff(4) == milliseconds(1600));
  CHECK(StartCommand::backoff(9) == milliseconds(30'000));  // 51.2 s capped
  CHECK(StartCommand::backoff(1000) == milliseconds(30'000));
}
