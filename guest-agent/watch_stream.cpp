// SPDX-License-Identifier: Apache-2.0
// WatchDir streams over Connect server-streaming responses.
#include "guest-agent/watch_stream.hpp"

#include <sys/inotify.h>

#include "common/connect_envelope.hpp"
#include "common/json.hpp"
#include "guest-agent/fs_identity.hpp"
#include "guest-agent/fs_ops.hpp"
#include "guest-agent/process_service.hpp"

namespace nexus::agent {
using namespace nexus::connectrpc;  // Connect envelope framing

WatchStream::WatchStream(uv::Loop& loop, std::shared_ptr<http::Exchange> ex, WatchOptions options,
                         User user, bool switch_identity, std::string etc_dir)
    : loop_(loop),
      ex_(std::move(ex)),
      options_(std::move(options)),
      user_(std::move(user)),
      switch_identity_(switch_identity),
      entries_(std::move(etc_dir)) {}

WatchStream::~WatchStream() = default;

void WatchStream::open() {
  std::weak_ptr<WatchStream> weak = shared_from_this();
  InotifyWatcher::Callbacks cb;
  cb.on_event = [weak](const InotifyWatcher::Event& ev) {
    if (auto self = weak.lock()) self->on_event(ev);
  };
  cb.on_error = [weak](const Error& e) {
    if (auto self = weak.lock()) {
      ConnectError ce{ConnectCode::internal, e.message()};
      self->end_stream(&ce);
    }
  };
  auto watcher = InotifyWatcher::open(loop_, options_.path, options_.recursive, user_,
                                      switch_identity_, std::move(cb));
  if (!watcher) return respond_stream_error(*ex_, to_connect_error(watcher.error()));
  watcher_ = std::move(*watcher);
  keep_alive_ = shared_from_this();

  http::Headers h;
  h.set("Content-Type", "application/connect+json");
  ex_->start(200, std::move(h));
  send(Json{{"start", Json::object()}});
  ex_->on_abort([weak] {
    if (auto self = weak.lock()) self->detach();
  });
  if (options_.deadline_ms) {
    deadline_ = std::make_unique<uv::Timer>(loop_);
    deadline_->start(*options_.deadline_ms, 0, [weak] {
      // The watch's lifetime is over: a normal end, which the SDK reports via onExit().
      if (auto self = weak.lock()) self->end_stream(nullptr);
    });
  }
}

void WatchStream::on_event(const InotifyWatcher::Event& ev) {
  if (ended_ || ex_->aborted()) return;
  for (const char* type : event_type_names(ev.mask)) {
    Json fs_event = {{"name", ev.name}, {"type", type}};
    bool with_entry = std::string_view(type) == "EVENT_TYPE_CREATE" ||
                      std::string_view(type) == "EVENT_TYPE_WRITE" ||
                      std::string_view(type) == "EVENT_TYPE_CHMOD";
    if (options_.include_entry && with_entry) {
      std::string full = ev.name == "." ? options_.path : join_path(options_.path, ev.name);
      FsIdentity as_user(user_, switch_identity_);
      if (auto entry = entries_.build(full)) fs_event["entry"] = std::move(*entry);  // best effort
    }
    send(Json{{"filesystem", std::move(fs_event)}});
  }
  if (ended_ || !watcher_ || ex_->pending_bytes() < options_.high_water || waiting_drain_) return;
  // Back-pressure: leave further events in the kernel queue until the client catches up.
  watcher_->pause();
  waiting_drain_ = true;
  std::weak_ptr<WatchStream> weak = shared_from_this();
  ex_->on_drain([weak] {
    auto self = weak.lock();
    if (!self) return;
    self->waiting_drain_ = false;
    if (self->watcher_ && !self->ended_) self->watcher_->resume();
  });
}

void WatchStream::send(const Json& message) {
  if (ended_) return;
  ex_->write(encode_envelope(0, dump_json(message)));
  arm_keepalive();
}

void WatchStream::arm_keepalive() {
  if (options_.keepalive_ms == 0) return;
  if (!keepalive_) keepalive_ = std::make_unique<uv::Timer>(loop_);
  std::weak_ptr<WatchStream> weak = shared_from_this();
  keepalive_->start(options_.keepalive_ms, 0, [weak] {
    if (auto self = weak.lock()) self->send(Json{{"keepalive", Json::object()}});
  });
}

void WatchStream::end_stream(const ConnectError* error) {
  if (ended_) return;
  auto self = shared_from_this();
  ex_->write(encode_envelope(kEnvelopeEndStream, end_stream_payload(error)));
  ex_->finish();
  detach();
}

void WatchStream::detach() {
  ended_ = true;
  watcher_.reset();  // closes the inotify fd: every watch is gone
  keepalive_.reset();
  deadline_.reset();
  keep_alive_.reset();  // may drop the last reference; nothing touches members after this
}

}  // namespace nexus::agent
