// SPDX-License-Identifier: Apache-2.0
// Recursive inotify watching.
#include "guest-agent/inotify_watcher.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>

#include <fmt/format.h>

#include "common/log.hpp"
#include "guest-agent/fs_identity.hpp"
#include "guest-agent/fs_ops.hpp"

namespace nexus::agent {

namespace {

// What fsnotify watches for.
constexpr uint32_t kWatchMask = IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_ATTRIB |
                                IN_MODIFY | IN_MOVE_SELF | IN_DELETE | IN_DELETE_SELF;

std::string join_rel(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

bool under(const std::string& path, const std::string& dir) {
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                         path[dir.size()] == '/');
}

}  // namespace

std::vector<const char*> event_type_names(uint32_t mask) {
  std::vector<const char*> out;
  if (mask & (IN_CREATE | IN_MOVED_TO)) out.push_back("EVENT_TYPE_CREATE");
  if (mask & (IN_MOVED_FROM | IN_MOVE_SELF)) out.push_back("EVENT_TYPE_RENAME");
  if (mask & IN_ATTRIB) out.push_back("EVENT_TYPE_CHMOD");
  if (mask & IN_MODIFY) out.push_back("EVENT_TYPE_WRITE");
  if (mask & (IN_DELETE | IN_DELETE_SELF)) out.push_back("EVENT_TYPE_REMOVE");
  return out;
}

Result<std::unique_ptr<InotifyWatcher>> InotifyWatcher::open(uv::Loop& loop, std::string root,
                                                             bool recursive, User user,
                                                             bool switch_identity,
                                                             Callbacks cb) {
  UniqueFd fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!fd) return fail_errno("inotify_init1");
  std::unique_ptr<InotifyWatcher> w(new InotifyWatcher(loop, std::move(root), recursive,
                                                       std::move(user), switch_identity,
                                                       std::move(cb), std::move(fd)));
  NEXUS_TRY(w->add_watch("", true));
  if (recursive) w->add_tree("", false);
  w->resume();
  return w;
}

InotifyWatcher::InotifyWatcher(uv::Loop& loop, std::string root, bool recursive, User user,
                               bool switch_identity, Callbacks cb, UniqueFd fd)
    : root_(std::move(root)),
      recursive_(recursive),
      user_(std::move(user)),
      switch_identity_(switch_identity),
      cb_(std::move(cb)),
      fd_(std::move(fd)),
      poll_(std::make_unique<uv::Poll>(loop, fd_.get())) {}

InotifyWatcher::~InotifyWatcher() {
  *alive_ = false;
  poll_.reset();  // before the fd closes; closing the fd drops every watch
}

void InotifyWatcher::pause() { poll_->stop(); }

void InotifyWatcher::resume() {
  poll_->start(UV_READABLE, [this](int, int) { on_readable(); });
}

std::string InotifyWatcher::full_path(const std::string& rel) const {
  return rel.empty() ? root_ : join_path(root_, rel);
}

Result<void> InotifyWatcher::add_watch(const std::string& rel, bool is_root) {
  if (watches_.size() >= kMaxWatches) {
    if (!limit_logged_)
      log::warning("agent", "watch on '{}': over {} directories, not watching more", root_,
                   kMaxWatches);
    limit_logged_ = true;
    return fail(Errc::too_large, "too many watched directories");
  }
  uint32_t mask = kWatchMask | (is_root ? 0 : IN_ONLYDIR | IN_DONT_FOLLOW);
  int wd;
  {
    FsIdentity as_user(user_, switch_identity_);
    wd = ::inotify_add_watch(fd_.get(), full_path(rel).c_str(), mask);
  }
  if (wd < 0) return fail_errno(fmt::format("watching '{}'", full_path(rel)));
  watches_[wd] = rel;  // the same inode again (moved within the tree): the new path wins
  if (is_root) root_wd_ = wd;
  return {};
}

void InotifyWatcher::add_tree(const std::string& top, bool report) {
  std::deque<std::string> pending{top};
  auto alive = alive_;
  while (!pending.empty()) {
    std::string rel = std::move(pending.front());
    pending.pop_front();
    if (!rel.empty() && !add_watch(rel, false)) continue;  // gone, unreadable or over limit
    std::vector<std::pair<std::string, bool>> children;
    {
      FsIdentity as_user(user_, switch_identity_);
      DIR* d = ::opendir(full_path(rel).c_str());
      if (!d) continue;
      while (struct dirent* e = ::readdir(d)) {
        std::string_view n = e->d_name;
        if (n == "." || n == "..") continue;
        struct stat st {};
        std::string child = join_rel(rel, std::string(n));
        bool is_dir = ::lstat(full_path(child).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
        children.emplace_back(std::move(child), is_dir);
      }
      ::closedir(d);
    }
    std::sort(children.begin(), children.end());
    for (auto& [child, is_dir] : children) {
      // Entries that appeared before the new directory's watch existed.
      if (report && cb_.on_event) {
        cb_.on_event(Event{child, IN_CREATE | (is_dir ? IN_ISDIR : 0u)});
        if (!*alive) return;
      }
      if (is_dir) pending.push_back(std::move(child));
    }
  }
}

void InotifyWatcher::remove_tree(const std::string& rel) {
  for (auto it = watches_.begin(); it != watches_.end();) {
    if (it->first != root_wd_ && under(it->second, rel)) {
      (void)::inotify_rm_watch(fd_.get(), it->first);  // its IN_IGNORED finds no entry
      it = watches_.erase(it);
    } else {
      ++it;
    }
  }
}

void InotifyWatcher::on_readable() {
  alignas(struct inotify_event) char buf[64 * 1024];
  ssize_t n = ::read(fd_.get(), buf, sizeof buf);
  if (n <= 0) return;  // EAGAIN/EINTR: wait for the next wakeup
  auto alive = alive_;
  for (ssize_t off = 0; off < n;) {
    // SAFETY: the kernel writes whole, aligned records; len covers the NUL-padded name.
    const auto* ev = reinterpret_cast<const struct inotify_event*>(buf + off);
    off += static_cast<ssize_t>(sizeof(struct inotify_event) + ev->len);
    std::string name = ev->len ? std::string(ev->name) : std::string();
    if (!dispatch(ev->wd, ev->mask, std::move(name)) || !*alive) return;
  }
}

bool InotifyWatcher::dispatch(int wd, uint32_t mask, std::string name) {
  auto alive = alive_;
  if (mask & IN_Q_OVERFLOW) {
    if (cb_.on_error) cb_.on_error(Error(Errc::internal, "inotify event queue overflowed"));
    return false;
  }
  auto it = watches_.find(wd);
  if (it == watches_.end()) return true;  // removed meanwhile
  if (mask & IN_IGNORED) {
    watches_.erase(it);
    return true;
  }
  bool is_root = wd == root_wd_;
  if (name.empty() && !is_root) return true;  // the parent's watch reports the same change
  std::string rel = name.empty() ? std::string(".") : join_rel(it->second, name);
  bool is_dir = mask & IN_ISDIR;
  if (recursive_ && is_dir && (mask & IN_MOVED_FROM)) remove_tree(rel);
  if (cb_.on_event) {
    cb_.on_event(Event{rel, mask});
    if (!*alive) return false;
  }
  if (recursive_ && is_dir && (mask & (IN_CREATE | IN_MOVED_TO))) {
    add_tree(rel, true);
    if (!*alive) return false;
  }
  return true;
}

}  // namespace nexus::agent
