// SPDX-License-Identifier: Apache-2.0
// The Connect RPC service process.Process: Start, Connect, List, SendInput, SendSignal,
// CloseStdin, Update (StreamInput answers unimplemented).
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include "common/http.hpp"
#include "common/uv.hpp"
#include "guest-agent/agent_state.hpp"
#include "guest-agent/connect_error.hpp"
#include "guest-agent/process_table.hpp"
#include "guest-agent/spawn.hpp"

namespace nexus::agent {

constexpr size_t kMaxRpcMessageBytes = 16 * 1024 * 1024;
constexpr size_t kStreamHighWater = 1024 * 1024;
constexpr uint64_t kDefaultKeepaliveSeconds = 90;

/// The `pty` field of a Start or Update request: nullopt when absent; invalid_argument for
/// a missing size or a dimension outside 1..10000.
Result<std::optional<PtySize>> parse_pty(const Json& req);

/// Send a unary Connect error (JSON body, HTTP status from the code).
void respond_unary_error(http::Exchange& ex, const ConnectError& error, int status = 0);
/// Answer a server-stream call with HTTP 200 and only an end-of-stream error envelope.
void respond_stream_error(http::Exchange& ex, const ConnectError& error);
/// Whether the request uses the streaming content type (application/connect+json).
bool is_connect_stream_request(const http::RequestHead& head);

class ProcessService {
 public:
  ProcessService(uv::Loop& loop, AgentState& state, ProcessTable& table)
      : loop_(loop), state_(state), table_(table) {}
  /// `method` is the part after "/process.Process/".
  void handle(std::string_view method, std::shared_ptr<http::Exchange> ex);

 private:
  void start(std::shared_ptr<http::Exchange> ex, const Json& req);
  void connect(std::shared_ptr<http::Exchange> ex, const Json& req);
  Result<Json> list(const Json& req);
  Result<Json> send_input(const Json& req);
  Result<Json> send_signal(const Json& req);
  Result<Json> close_stdin(const Json& req);
  Result<Json> update(const Json& req);
  Result<std::shared_ptr<Process>> select(const Json& req);

  uv::Loop& loop_;
  AgentState& state_;
  ProcessTable& table_;
};

}  // namespace nexus::agent
