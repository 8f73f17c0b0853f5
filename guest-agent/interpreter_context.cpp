// SPDX-License-Identifier: Apache-2.0
// Context: kernel lifecycle and the execution queue.
#include "guest-agent/interpreter_context.hpp"

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>

#include "common/log.hpp"

namespace nexus::agent {

Context::Context(uv::Loop& loop, const AgentState& state, std::string id, Language language,
                 std::string cwd)
    : loop_(loop), state_(state), id_(std::move(id)), language_(language), cwd_(std::move(cwd)) {}

Context::~Context() { discard_kernel(); }

Json Context::describe() const {
  return Json{{"id", id_}, {"language", language_name(language_)}, {"cwd", cwd_}};
}

Result<void> Context::ensure_kernel() {
  if (kernel_ && !kernel_->exited()) return {};
  auto user = state_.resolve_user("");
  if (!user) return fail(std::move(user).error());
  KernelOptions o;
  o.language = language_;
  o.cwd = cwd_;
  o.env = state_.build_env(*user, {});
  o.change_identity = state_.switch_identity();
  o.uid = user->uid;
  o.gid = user->gid;
  o.groups = user->groups;
  if (const char* tmp = std::getenv("TMPDIR"); tmp && tmp[0] == '/') o.fifo_parent = tmp;
  auto k = Kernel::start(loop_, o, this);
  if (!k) {
    return fail(std::move(k).error().wrap(
        fmt::format("cannot start the {} kernel", language_name(language_))));
  }
  kernel_ = std::move(*k);
  execution_count_ = 0;
  return {};
}

void Context::discard_kernel() {
  interrupt_timer_.reset();
  if (!kernel_) return;
  kernel_->detach();
  kernel_->kill();
  kernel_.reset();
}

void Context::submit(std::shared_ptr<Execution> execution) {
  std::weak_ptr<Context> weak = shared_from_this();
  const Execution* raw = execution.get();
  execution->open([weak, raw] {
    if (auto self = weak.lock()) self->on_aborted(raw);
  });
  if (closed_) {
    execution->send_error("ContextDeleted", "The context was deleted", "");
    execution->end();
    return;
  }
  queue_.push_back(std::move(execution));
  pump();
}

void Context::pump() {
  while (!current_ && !queue_.empty() && !closed_) {
    auto next = std::move(queue_.front());
    queue_.pop_front();
    if (next->gone()) continue;
    if (auto r = ensure_kernel(); !r) {
      log::warning("interpreter", "context '{}': {}", id_, r.error().message());
      next->send_error("KernelStartError", r.error().message(), r.error().message());
      next->end();
      continue;
    }
    ExecuteRequest req{next_request_id_++, next->code(), next->env()};
    if (auto r = kernel_->send(encode_execute(language_, req)); !r) {
      next->send_error("KernelError", r.error().message(), r.error().message());
      next->end();
      continue;
    }
    ++execution_count_;
    next->send_count(execution_count_);
    current_ = std::move(next);
    current_request_ = req.id;
  }
}

void Context::finish_current() {
  interrupt_timer_.reset();
  if (current_) {
    current_->end();
    current_.reset();
  }
  if (kernel_) kernel_->set_output_paused(false);
  pump();
}

void Context::on_aborted(const Execution* execution) {
  if (current_.get() != execution) {
    queue_.erase(std::remove_if(queue_.begin(), queue_.end(),
                                [&](const auto& e) { return e.get() == execution; }),
                 queue_.end());
    return;
  }
  if (!kernel_) return;
  log::debug("interpreter", "context '{}': client went away, interrupting", id_);
  kernel_->set_output_paused(false);
  kernel_->interrupt();
  interrupt_timer_ = std::make_unique<uv::Timer>(loop_);
  std::weak_ptr<Context> weak = shared_from_this();
  uint64_t request = current_request_;
  interrupt_timer_->start(kInterruptGraceMs, 0, [weak, request] {
    auto self = weak.lock();
    if (!self || !self->current_ || self->current_request_ != request || !self->kernel_) return;
    log::info("interpreter", "context '{}': kernel ignored the interrupt, killing it", self->id_);
    self->kernel_->kill();  // on_kernel_exit ends the execution
  });
}

void Context::on_kernel_output(bool is_stderr, std::string_view bytes) {
  if (!current_) return;  // output between executions has no cell to belong to
  current_->send_output(is_stderr, bytes);
  std::weak_ptr<Context> weak = shared_from_this();
  if (kernel_ && current_->congested([weak] {
        if (auto self = weak.lock(); self && self->kernel_) self->kernel_->set_output_paused(false);
      }))
    kernel_->set_output_paused(true);
}

void Context::on_kernel_event(const KernelEvent& event) {
  if (!current_ || event.id != current_request_) return;  // stale or forged
  switch (event.type) {
    case KernelEvent::Type::result:
      current_->send_result(event.body);
      break;
    case KernelEvent::Type::error:
      current_->send_error(event.body.value("name", ""), event.body.value("value", ""),
                           event.body.value("traceback", ""));
      break;
    case KernelEvent::Type::done:
      if (event.status && *event.status != 0) {
        std::string msg = fmt::format("Command exited with code {}", *event.status);
        current_->send_error("Error", msg, msg);
      }
      finish_current();
      break;
    case KernelEvent::Type::ready:
      break;
  }
}

void Context::on_kernel_exit(std::string_view startup_output) {
  auto self = shared_from_this();
  bool was_ready = kernel_ && kernel_->ready();
  kernel_.reset();
  interrupt_timer_.reset();
  log::info("interpreter", "context '{}': {} kernel exited", id_, language_name(language_));
  if (!current_) return;
  std::string value = fmt::format(
      "The {} kernel exited unexpectedly; its state is lost and it restarts on the next "
      "execution",
      language_name(language_));
  std::string traceback = value;
  if (!was_ready && !startup_output.empty())
    traceback = fmt::format("{}\n\n{}", value, startup_output);
  current_->send_error("KernelDiedError", value, traceback);
  finish_current();
}

Result<void> Context::restart() {
  discard_kernel();
  if (current_) {
    current_->send_error("ContextRestarted", "The context was restarted during this execution", "");
    current_->end();
    current_.reset();
  }
  auto r = ensure_kernel();
  pump();
  return r;
}

void Context::close() {
  closed_ = true;
  discard_kernel();
  auto pending = std::move(queue_);
  queue_.clear();
  if (current_) pending.push_front(std::move(current_));
  current_.reset();
  for (auto& e : pending) {
    e->send_error("ContextDeleted", "The context was deleted", "");
    e->end();
  }
}

}  // namespace nexus::agent
