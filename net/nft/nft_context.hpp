// SPDX-License-Identifier: Apache-2.0
// A small owner of a libnftables context: runs one batch of nft commands (one kernel
// transaction, so a batch is all-or-nothing) and reads listings as JSON. Errors carry the
// libnftables message and map the kernel's errno words to Errc where the caller can act on
// them (permission_denied, not_found, already_exists, unavailable).
//
// A context talks to the network namespace of the thread that runs the command, so each
// call makes its own: a caller that switches namespaces (tests, nexusd entering a sandbox's)
// always reaches the one it is in.
#pragma once

#include <string>
#include <string_view>

#include "common/json.hpp"
#include "common/result.hpp"

namespace nexus::net::nft {

/// Runs `commands` (nft syntax, one command a line) as one transaction. `what` names the
/// operation in the error ("installing table inet nexus: ...").
Result<void> run_batch(std::string_view commands, std::string_view what);

/// Runs a `list ...` command with JSON output and returns the "nftables" array.
Result<Json> list_json(std::string_view command, std::string_view what);

/// Ok when this process can use nf_tables in its network namespace; otherwise the reason
/// (no nf_tables in the kernel: Errc::unavailable; no CAP_NET_ADMIN: Errc::permission_denied).
Result<void> nft_available();

/// Classifies a libnftables error text: the errno words the kernel's answer carries.
Error nft_error(std::string_view message, std::string_view what);

}  // namespace nexus::net::nft
