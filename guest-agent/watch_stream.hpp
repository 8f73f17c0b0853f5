// SPDX-License-Identifier: Apache-2.0
// One filesystem.Filesystem/WatchDir response stream: start, events, keepalives, deadline.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/http.hpp"
#include "common/uv.hpp"
#include "guest-agent/connect_error.hpp"
#include "guest-agent/entry_info.hpp"
#include "guest-agent/inotify_watcher.hpp"
#include "guest-agent/users.hpp"

namespace nexus::agent {

struct WatchOptions {
  std::string path;  ///< resolved absolute directory
  bool recursive = false;
  bool include_entry = false;
  uint64_t keepalive_ms = 90 * 1000;
  std::optional<uint64_t> deadline_ms;  ///< Connect-Timeout-Ms: the watch ends with {}
  size_t high_water = 1024 * 1024;      ///< stop reading events above this many queued bytes
};

/// Keeps itself alive until the stream ends: the client disconnects (the watch is removed
/// at once), the deadline passes, or the watch fails. Thread affinity: the loop thread.
class WatchStream : public std::enable_shared_from_this<WatchStream> {
 public:
  WatchStream(uv::Loop& loop, std::shared_ptr<http::Exchange> ex, WatchOptions options,
              User user, bool switch_identity, std::string etc_dir);
  ~WatchStream();

  /// Add the inotify watches, then start the response with {"start":{}}. A failure is
  /// answered as an end-of-stream error.
  void open();

 private:
  void on_event(const InotifyWatcher::Event& ev);
  void send(const Json& message);
  void arm_keepalive();
  void end_stream(const ConnectError* error);
  void detach();

  uv::Loop& loop_;
  std::shared_ptr<http::Exchange> ex_;
  WatchOptions options_;
  User user_;
  bool switch_identity_;
  EntryInfoBuilder entries_;
  std::unique_ptr<InotifyWatcher> watcher_;
  std::unique_ptr<uv::Timer> keepalive_;
  std::unique_ptr<uv::Timer> deadline_;
  std::shared_ptr<WatchStream> keep_alive_;
  bool ended_ = false;
  bool waiting_drain_ = false;
};

}  // namespace nexus::agent
