// SPDX-License-Identifier: Apache-2.0
// One Start/Connect response stream: envelopes, keepalives, back-pressure, end-of-stream.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "common/http.hpp"
#include "common/uv.hpp"
#include "guest-agent/connect_error.hpp"
#include "guest-agent/process.hpp"

namespace nexus::agent {

class ProcessStream : public ProcessSubscriber,
                      public std::enable_shared_from_this<ProcessStream> {
 public:
  ProcessStream(uv::Loop& loop, std::shared_ptr<http::Exchange> ex, uint64_t keepalive_ms,
                size_t high_water);
  ~ProcessStream() override;

  /// Start the HTTP response, send the start event and subscribe to `process`.
  /// `stream_deadline_ms` (Connect calls) ends the stream with deadline_exceeded without
  /// touching the process.
  void open(const std::shared_ptr<Process>& process, std::optional<uint64_t> stream_deadline_ms);

  void on_output(OutputKind kind, std::string_view bytes) override;
  void on_end(const ExitInfo& info, bool deadline_exceeded) override;
  bool congested() const override;

 private:
  void send(const Json& message);
  void end_stream(const ConnectError* error);
  void arm_keepalive();
  void detach();

  uv::Loop& loop_;
  std::shared_ptr<http::Exchange> ex_;
  uint64_t keepalive_ms_;
  size_t high_water_;
  std::weak_ptr<Process> process_;
  std::unique_ptr<uv::Timer> keepalive_;
  std::unique_ptr<uv::Timer> deadline_;
  bool ended_ = false;
  bool waiting_drain_ = false;
};

}  // namespace nexus::agent
