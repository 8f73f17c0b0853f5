// SPDX-License-Identifier: Apache-2.0
// `nexus version`: the client's version and, when nexusd answers, the daemon's.
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"
#include "nexus_config.h"

namespace nexus::cli {

int run_version_command(const Command& cmd, const ApiClient& api, const Console& console) {
  auto daemon = api.call(cmd.request);
  if (cmd.json) {
    Json out = {{"client", {{"version", NEXUS_VERSION}}}};
    if (daemon)
      out["daemon"] = *daemon;
    else
      out["daemon"] = nullptr;
    console.out(json_text(out));
  } else {
    console.out(fmt::format("Client: nexus {}\n", NEXUS_VERSION));
    if (daemon)
      console.out(fmt::format("Daemon: nexusd {} (API {})\n", field_text(*daemon, "version"),
                              field_text(*daemon, "api")));
  }
  if (!daemon) return report_failure(console, daemon.error(), cmd.socket, false);
  return exit_ok;
}

}  // namespace nexus::cli
