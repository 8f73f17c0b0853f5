// SPDX-License-Identifier: Apache-2.0
// The kernel driver sources embedded in the agent (see interpreter_protocol.hpp).
#pragma once

#include <string_view>

namespace nexus::agent {

/// Run as `python3 -u -c <source> <events-fifo>`.
std::string_view python_driver_source();
/// Run as `node --expose-internals -e <source> <events-fifo>`.
std::string_view node_driver_source();
/// Fed to `bash -i` on stdin; "@EVENTS@" stands for the quoted events FIFO path.
std::string_view bash_driver_source();

}  // namespace nexus::agent
