// SPDX-License-Identifier: Apache-2.0
// `nexus template build-watch BUILD` and `nexus template watch NAME`: attach to a running
// build's events (GET /v1/builds/{id}/events) and show them as a live full-screen view on a
// terminal (redrawn as events come, every 250 ms and on resize; it ends with the build), as
// plain lines otherwise, or as JSON lines with --json.
#pragma once

#include "cli/api_client.hpp"
#include "cli/output.hpp"
#include "cli/request.hpp"

namespace nexus::cli {

/// cmd.subject is the build id (build-watch) or the template name (watch). Exit 0 when the
/// build succeeds, 1 when it fails, 130 when interrupted, as report_failure() otherwise.
int run_build_watch(const Command& cmd, const ApiClient& api, const Console& console);

/// Follow build `build_id` as run_build_watch does (live view on a terminal unless --json or
/// --quiet; plain lines, none with --quiet; JSON lines with --json); `template build` uses it
/// once it has started the build.
int follow_build(const Command& cmd, const ApiClient& api, const Console& console, const std::string& build_id);

}  // namespace nexus::cli
