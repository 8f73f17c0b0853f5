// SPDX-License-Identifier: Apache-2.0
// The exit statuses of `nexus`, the same in every command (documented in `nexus --help`).
#pragma once

namespace nexus::cli {

enum ExitCode : int {
  exit_ok = 0,           ///< success
  exit_failed = 1,       ///< the operation failed (an API error)
  exit_usage = 2,        ///< bad command line
  exit_unreachable = 3,  ///< cannot reach nexusd
  exit_not_found = 4,    ///< the sandbox, template or image does not exist (API 404)
  exit_timeout = 124,    ///< run/exec: the code or command ran past its timeout
  exit_nexus_error = 125,  ///< run/exec: any Nexus error (1-4 above) while running code
};

/// The `nexus --help` footer describing the exit statuses.
inline constexpr const char* exit_status_help =
    "Exit status:\n"
    "  0    success\n"
    "  1    the operation failed (nexusd answered with an error)\n"
    "  2    usage error (bad command line)\n"
    "  3    cannot reach nexusd (no socket, connection refused)\n"
    "  4    not found (no such sandbox, template or image)\n"
    "  `sandbox run` and `sandbox exec` exit with the program's own status, except:\n"
    "  124  the program ran past --timeout\n"
    "  125  a Nexus error (1, 3 or 4 above) while running code, so it can be told\n"
    "       apart from the program's own statuses\n"
    "  128+N  exec: the command was killed by signal N\n";

}  // namespace nexus::cli
