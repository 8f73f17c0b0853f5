// SPDX-License-Identifier: Apache-2.0
// AgentWait: a retry loop of GET /health with a deadline.
#include "daemon/microvm/agent_wait.hpp"

#include <fmt/format.h>

namespace nexus::microvm {

struct AgentWait::State : std::enable_shared_from_this<State> {
  State(uv::Loop& l, http::Endpoint e, AgentWaitOptions o, std::function<Result<void>()> c,
        std::function<void(Result<void>)> d)
      : loop(l), endpoint(std::move(e)), options(o), check(std::move(c)), done(std::move(d)), timer(l) {}

  void attempt() {
    ++attempts;
    http::ClientRequest req;
    req.method = "GET";
    req.target = "/health";
    req.connect_timeout_ms = options.attempt_timeout_ms;
    std::weak_ptr<State> weak = shared_from_this();
    http::fetch(loop, endpoint, std::move(req), [weak](Result<http::Response> r) {
      auto self = weak.lock();
      if (!self || !self->done) return;  // cancelled
      if (r && r->status / 100 == 2) return self->finish({});
      self->last_error = r ? fmt::format("the agent answered HTTP {} to /health", r->status) : r.error().message();
      self->retry();
    }, 64 * 1024);
  }

  void retry() {
    if (auto c = check ? check() : Result<void>{}; !c) return finish(fail(std::move(c).error()));
    if (loop.now_ms() >= deadline) {
      return finish(fail(Errc::timeout, fmt::format("the microVM's agent did not answer within {} ms ({} attempts; last: {})",
                                                    options.deadline_ms, attempts, last_error)));
    }
    std::weak_ptr<State> weak = shared_from_this();
    timer.start(options.retry_ms, 0, [weak] {
      if (auto self = weak.lock()) self->attempt();
    });
  }

  void finish(Result<void> r) {
    auto cb = std::move(done);
    done = nullptr;
    timer.stop();
    if (cb) cb(std::move(r));
  }

  uv::Loop& loop;
  http::Endpoint endpoint;
  AgentWaitOptions options;
  std::function<Result<void>()> check;
  std::function<void(Result<void>)> done;
  uv::Timer timer;
  uint64_t deadline = 0;
  int attempts = 0;
  std::string last_error = "none";
};

AgentWait::AgentWait(uv::Loop& loop, http::Endpoint endpoint, AgentWaitOptions options,
                     std::function<Result<void>()> check, std::function<void(Result<void>)> done)
    : state_(std::make_shared<State>(loop, std::move(endpoint), options, std::move(check), std::move(done))) {}

AgentWait::~AgentWait() {
  state_->done = nullptr;
  state_->timer.stop();
}

void AgentWait::start() {
  state_->deadline = state_->loop.now_ms() + state_->options.deadline_ms;
  state_->attempt();
}

}  // namespace nexus::microvm
