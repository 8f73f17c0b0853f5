// SPDX-License-Identifier: Apache-2.0
// inotify watches on a directory or a whole tree, reporting events by relative name.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "common/uv.hpp"
#include "guest-agent/users.hpp"

namespace nexus::agent {

/// The envd event type names for an inotify mask, in envd's order (CREATE, RENAME, CHMOD,
/// WRITE, REMOVE), mapped as fsnotify does: IN_CREATE/IN_MOVED_TO create,
/// IN_MOVED_FROM/IN_MOVE_SELF rename, IN_ATTRIB chmod, IN_MODIFY write,
/// IN_DELETE/IN_DELETE_SELF remove.
std::vector<const char*> event_type_names(uint32_t mask);

/// Thread affinity: the loop thread. Callbacks may destroy the watcher.
class InotifyWatcher {
 public:
  struct Event {
    std::string name;  ///< relative to the root ("sub/f.txt"); "." for the root itself
    uint32_t mask;     ///< inotify bits (IN_CREATE, IN_ISDIR, ...)
  };
  struct Callbacks {
    std::function<void(const Event&)> on_event;
    /// A fatal error (the kernel queue overflowed); no events follow.
    std::function<void(const Error&)> on_error;
  };
  static constexpr size_t kMaxWatches = 65536;

  /// Watch the directory `root` (absolute; may be a symlink to a directory) and, when
  /// `recursive`, every directory below it, adding watches for directories created or moved
  /// in later (their existing contents are reported as CREATE). Watches are added as `user`.
  static Result<std::unique_ptr<InotifyWatcher>> open(uv::Loop& loop, std::string root,
                                                      bool recursive, User user,
                                                      bool switch_identity, Callbacks cb);
  ~InotifyWatcher();
  InotifyWatcher(const InotifyWatcher&) = delete;
  InotifyWatcher& operator=(const InotifyWatcher&) = delete;

  /// Stop reading events (the kernel queues them) / read again.
  void pause();
  void resume();
  size_t watch_count() const { return watches_.size(); }

 private:
  InotifyWatcher(uv::Loop& loop, std::string root, bool recursive, User user,
                 bool switch_identity, Callbacks cb, UniqueFd fd);
  Result<void> add_watch(const std::string& rel, bool is_root);
  /// Watch the directory `rel` and its subdirectories; report their entries when `report`.
  void add_tree(const std::string& rel, bool report);
  void remove_tree(const std::string& rel);
  void on_readable();
  /// False when the watcher was destroyed by a callback.
  bool dispatch(int wd, uint32_t mask, std::string name);
  std::string full_path(const std::string& rel) const;

  std::string root_;
  bool recursive_;
  User user_;
  bool switch_identity_;
  Callbacks cb_;
  UniqueFd fd_;
  std::unique_ptr<uv::Poll> poll_;
  std::map<int, std::string> watches_;  ///< wd -> directory relative to root ("" = root)
  int root_wd_ = -1;
  bool limit_logged_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace nexus::agent
