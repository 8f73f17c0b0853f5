// SPDX-License-Identifier: Apache-2.0
// The agent <-> kernel driver framing.
//
// A kernel is one long-lived process per context. The agent talks to its driver over:
//  * stdin: requests. Python and JavaScript drivers read one JSON object per line
//    ({"type":"execute","id":N,"code":"...","env":{...}}) and move the pipe off fd 0, so
//    user code reads /dev/null. Bash reads shell lines: the cell runs as one interactive
//    command line (so SIGINT aborts all of it) with stdin from /dev/null, and a second
//    line reports its status.
//  * fd 1 / fd 2: the raw stdout and stderr of the kernel and everything it starts.
//  * a FIFO (path given to the driver): events, one JSON object per line:
//      {"type":"ready"}
//      {"type":"result","id":N,"is_main_result":bool,"text":"...",<mime fields>}
//      {"type":"error","id":N,"name":"...","value":"...","traceback":"..."}
//      {"type":"done","id":N[,"status":int]}
//    A driver flushes fd 1/2 before it writes an event, and the agent drains the pipes
//    before it acts on one, so output and events stay in order.
// Nothing a driver sends is trusted: lines are bounded, and anything malformed is dropped.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.hpp"
#include "common/result.hpp"
#include "guest-agent/interpreter_language.hpp"

namespace nexus::agent {

/// How to start a kernel.
struct KernelLaunch {
  std::string cmd;
  std::vector<std::string> args;
  std::string init_input;  ///< written to the driver's stdin first
};

KernelLaunch kernel_launch(Language language, const std::string& events_path);

struct ExecuteRequest {
  uint64_t id = 0;
  std::string code;
  std::map<std::string, std::string> env;  ///< for this execution only
};

/// The bytes to write to the driver's stdin to run one cell.
std::string encode_execute(Language language, const ExecuteRequest& request);

struct KernelEvent {
  enum class Type { ready, result, error, done };
  Type type = Type::ready;
  uint64_t id = 0;
  /// result: the NDJSON line to send (type, is_main_result, text and mime fields).
  /// error: name, value, traceback (strings).
  Json body;
  std::optional<long long> status;  ///< done: the bash exit status
};

/// Parse and validate one event line from a driver.
Result<KernelEvent> parse_kernel_event(std::string_view line);

/// Bash ANSI-C quoting ($'...'); NUL bytes are dropped.
std::string bash_quote(std::string_view s);

}  // namespace nexus::agent
