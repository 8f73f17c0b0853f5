// SPDX-License-Identifier: Apache-2.0
// The bash kernel driver: setup lines fed to `bash --norc --noprofile --noediting -i`.
//
// The shell is interactive so that SIGINT aborts the whole command line that runs a cell
// and bash carries on with the next line, which reports the status (see
// interpreter_protocol.cpp for the lines of one execution).
#include "guest-agent/interpreter_drivers.hpp"

namespace nexus::agent {

namespace {

constexpr std::string_view kSource = R"NEXUS(PS1='' PS2='' PS0='' PS4='+ '
unset PROMPT_COMMAND HISTFILE
set +H +o history
__nexus_restore=''
__nexus_done() { local __nexus_st=$1; eval "$__nexus_restore"; __nexus_restore=''; printf '{"type":"done","id":%s,"status":%s}\n' "$2" "$__nexus_st" >&"$__nexus_ev"; }
exec {__nexus_ev}<>@EVENTS@ && printf '{"type":"ready"}\n' >&"$__nexus_ev"
)NEXUS";

}  // namespace

std::string_view bash_driver_source() { return kSource; }

}  // namespace nexus::agent
