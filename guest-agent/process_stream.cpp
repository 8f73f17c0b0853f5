// SPDX-License-Identifier: Apache-2.0
// Process event streams over Connect server-streaming responses.
#include "guest-agent/process_stream.hpp"

#include "common/strings.hpp"
#include "common/connect_envelope.hpp"
#include "common/json.hpp"

namespace nexus::agent {
using namespace nexus::connectrpc;  // Connect envelope framing

ProcessStream::ProcessStream(uv::Loop& loop, std::shared_ptr<http::Exchange> ex,
                             uint64_t keepalive_ms, size_t high_water)
    : loop_(loop), ex_(std::move(ex)), keepalive_ms_(keepalive_ms), high_water_(high_water) {}

ProcessStream::~ProcessStream() = default;

void ProcessStream::open(const std::shared_ptr<Process>& process,
                         std::optional<uint64_t> stream_deadline_ms) {
  process_ = process;
  http::Headers h;
  h.set("Content-Type", "application/connect+json");
  ex_->start(200, std::move(h));
  send(Json{{"event", {{"start", {{"pid", process->pid()}}}}}});
  std::weak_ptr<ProcessStream> weak = shared_from_this();
  ex_->on_abort([weak] {
    if (auto self = weak.lock()) self->detach();
  });
  if (stream_deadline_ms) {
    deadline_ = std::make_unique<uv::Timer>(loop_);
    deadline_->start(*stream_deadline_ms, 0, [weak] {
      auto self = weak.lock();
      if (!self || self->ended_) return;
      ConnectError e{ConnectCode::deadline_exceeded, "stream deadline exceeded"};
      self->end_stream(&e);
    });
  }
  process->subscribe(shared_from_this());
}

void ProcessStream::send(const Json& message) {
  if (ended_) return;
  ex_->write(encode_envelope(0, dump_json(message)));
  arm_keepalive();
}

void ProcessStream::arm_keepalive() {
  if (keepalive_ms_ == 0) return;
  if (!keepalive_) keepalive_ = std::make_unique<uv::Timer>(loop_);
  std::weak_ptr<ProcessStream> weak = shared_from_this();
  keepalive_->start(keepalive_ms_, 0, [weak] {
    if (auto self = weak.lock()) self->send(Json{{"event", {{"keepalive", Json::object()}}}});
  });
}

void ProcessStream::on_output(OutputKind kind, std::string_view bytes) {
  if (ended_ || ex_->aborted()) return;
  const char* key = kind == OutputKind::pty_data      ? "pty"
                    : kind == OutputKind::stderr_data ? "stderr"
                                                      : "stdout";
  send(Json{{"event", {{"data", {{key, base64_encode(bytes)}}}}}});
}

void ProcessStream::on_end(const ExitInfo& info, bool deadline_exceeded) {
  if (ended_) return;
  send(Json{{"event", {{"end", exit_info_json(info)}}}});
  if (deadline_exceeded) {
    ConnectError e{ConnectCode::deadline_exceeded, "process lifetime (Connect-Timeout-Ms) exceeded"};
    end_stream(&e);
  } else {
    end_stream(nullptr);
  }
}

bool ProcessStream::congested() const {
  if (ended_ || ex_->aborted()) return false;
  if (ex_->pending_bytes() < high_water_) return false;
  if (!waiting_drain_) {
    auto* self = const_cast<ProcessStream*>(this);
    self->waiting_drain_ = true;
    std::weak_ptr<ProcessStream> weak = self->shared_from_this();
    ex_->on_drain([weak] {
      auto s = weak.lock();
      if (!s) return;
      s->waiting_drain_ = false;
      if (auto p = s->process_.lock()) p->resume_output();
    });
  }
  return true;
}

void ProcessStream::end_stream(const ConnectError* error) {
  if (ended_) return;
  ex_->write(encode_envelope(kEnvelopeEndStream, end_stream_payload(error)));
  ex_->finish();
  detach();
}

void ProcessStream::detach() {
  ended_ = true;
  keepalive_.reset();
  deadline_.reset();
  auto self = shared_from_this();  // unsubscribe may drop the last reference
  if (auto p = process_.lock()) p->unsubscribe(this);
  process_.reset();
}

}  // namespace nexus::agent
