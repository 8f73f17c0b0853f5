// SPDX-License-Identifier: Apache-2.0
// NDJSON execution stream.
#include "guest-agent/interpreter_execution.hpp"

#include "common/strings.hpp"

namespace nexus::agent {

Execution::Execution(uv::Loop& loop, std::shared_ptr<http::Exchange> ex, std::string code,
                     std::map<std::string, std::string> env)
    : loop_(loop), ex_(std::move(ex)), code_(std::move(code)), env_(std::move(env)) {}

Execution::~Execution() = default;

void Execution::open(std::function<void()> on_abort) {
  http::Headers h;
  h.set("Content-Type", "application/x-ndjson");
  h.set("Cache-Control", "no-store");
  ex_->start(200, std::move(h));
  std::weak_ptr<Execution> weak = shared_from_this();
  ex_->on_abort([weak, cb = std::move(on_abort)] {
    auto self = weak.lock();
    if (!self || self->ended_) return;
    self->ended_ = true;
    self->keepalive_.reset();
    if (cb) cb();
  });
  arm_keepalive();
}

bool Execution::gone() const { return ended_ || ex_->aborted(); }

void Execution::send_line(const Json& line) {
  if (gone()) return;
  ex_->write(dump_json(line) + "\n");
  arm_keepalive();
}

void Execution::arm_keepalive() {
  if (!keepalive_) keepalive_ = std::make_unique<uv::Timer>(loop_);
  std::weak_ptr<Execution> weak = shared_from_this();
  keepalive_->start(kKeepaliveMs, 0, [weak] {
    if (auto self = weak.lock()) self->send_line(Json{{"type", "keepalive"}});
  });
}

void Execution::send_count(uint64_t execution_count) {
  send_line(Json{{"type", "number_of_executions"}, {"execution_count", execution_count}});
}

void Execution::flush_text(bool is_stderr, std::string text) {
  if (text.empty()) return;
  send_line(Json{{"type", is_stderr ? "stderr" : "stdout"},
                 {"text", std::move(text)},
                 {"timestamp", format_rfc3339_ms(unix_now_ms())}});
}

void Execution::send_output(bool is_stderr, std::string_view bytes) {
  Utf8Carry& carry = is_stderr ? stderr_carry_ : stdout_carry_;
  flush_text(is_stderr, carry.take(bytes));
}

void Execution::send_result(Json line) {
  // Every result, display() outputs too, as the real server's Result does.
  auto text = line.find("text");
  if (text != line.end() && text->is_string()) *text = strip_result_quotes(text->get<std::string>());
  send_line(line);
}

void Execution::send_error(std::string_view name, std::string_view value,
                           std::string_view traceback) {
  flush_text(false, stdout_carry_.flush());
  flush_text(true, stderr_carry_.flush());
  send_line(Json{{"type", "error"},
                 {"name", std::string(name)},
                 {"value", std::string(value)},
                 {"traceback", std::string(traceback)}});
}

void Execution::end() {
  if (ended_) return;
  flush_text(false, stdout_carry_.flush());
  flush_text(true, stderr_carry_.flush());
  send_line(Json{{"type", "end_of_execution"}});
  ended_ = true;
  keepalive_.reset();
  if (!ex_->aborted()) ex_->finish();
}

bool Execution::congested(std::function<void()> resume) {
  if (gone() || ex_->pending_bytes() < kHighWater) return false;
  if (!waiting_drain_) {
    waiting_drain_ = true;
    std::weak_ptr<Execution> weak = shared_from_this();
    ex_->on_drain([weak, cb = std::move(resume)] {
      auto self = weak.lock();
      if (!self) return;
      self->waiting_drain_ = false;
      if (cb) cb();
    });
  }
  return true;
}

}  // namespace nexus::agent
