// SPDX-License-Identifier: Apache-2.0
// Small host-side file helpers for the jail: control files, mount table, tree removal.
#include "daemon/jail/files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "common/unique_fd.hpp"

namespace nexus::jail::detail {

Result<std::string> read_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail_errno(fmt::format("opening '{}'", path));
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_errno(fmt::format("reading '{}'", path));
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Result<void> write_file(const std::string& path, const std::string& content) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return fail_errno(fmt::format("opening '{}'", path));
  ssize_t n;
  do {
    n = ::write(fd.get(), content.data(), content.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return fail_errno(fmt::format("writing '{}' to '{}'", content, path));
  if (static_cast<size_t>(n) != content.size())
    return fail(Errc::internal, fmt::format("short write to '{}'", path));
  return {};
}

bool path_exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

Result<void> make_dir(const std::string& path, unsigned mode) {
  if (::mkdir(path.c_str(), static_cast<mode_t>(mode)) != 0 && errno != EEXIST)
    return fail_errno(fmt::format("creating directory '{}'", path));
  return {};
}

namespace {

// /proc/self/mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_mount_field(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      bool ok = true;
      for (size_t k = 1; k <= 3; ++k) {
        char c = s[i + k];
        if (c < '0' || c > '7') ok = false;
        v = v * 8 + (c - '0');
      }
      if (ok) {
        out.push_back(static_cast<char>(v));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

bool is_at_or_below(const std::string& path, const std::string& dir) {
  if (path == dir) return true;
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
         path[dir.size()] == '/';
}

Result<void> remove_entry(int parent_fd, const char* name, dev_t dev, const std::string& path) {
  struct stat st;
  if (::fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};
    return fail_errno(fmt::format("inspecting '{}'", path));
  }
  if (S_ISDIR(st.st_mode)) {
    // A different device below the sandbox dir is a mount we failed to remove: emptying it
    // could delete host data (e.g. a bind mount), so stop instead.
    if (st.st_dev != dev)
      return fail(Errc::conflict,
                  fmt::format("refusing to remove '{}': it is a mount point", path));
    int fd = ::openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return fail_errno(fmt::format("opening '{}'", path));
    DIR* d = ::fdopendir(fd);
    if (d == nullptr) {
      ::close(fd);
      return fail_errno(fmt::format("opening '{}'", path));
    }
    Result<void> r;
    while (struct dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      r = remove_entry(::dirfd(d), e->d_name, dev, path + "/" + e->d_name);
      if (!r) break;
    }
    ::closedir(d);
    if (!r) return r;
    if (::unlinkat(parent_fd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
      return fail_errno(fmt::format("removing '{}'", path));
    return {};
  }
  if (::unlinkat(parent_fd, name, 0) != 0 && errno != ENOENT)
    return fail_errno(fmt::format("removing '{}'", path));
  return {};
}

}  // namespace

Result<std::vector<std::string>> mounts_under(const std::string& dir) {
  auto text = read_file("/proc/self/mountinfo");
  if (!text) return fail(std::move(text).error());
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text->size()) {
    size_t eol = text->find('\n', pos);
    if (eol == std::string::npos) eol = text->size();
    std::string line = text->substr(pos, eol - pos);
    pos = eol + 1;
    // Fields: id parent major:minor root mount-point ...
    size_t f = 0, start = 0;
    std::string mount_point;
    for (size_t i = 0; i <= line.size(); ++i) {
      if (i == line.size() || line[i] == ' ') {
        if (f == 4) {
          mount_point = unescape_mount_field(line.substr(start, i - start));
          break;
        }
        ++f;
        start = i + 1;
      }
    }
    if (!mount_point.empty() && is_at_or_below(mount_point, dir)) out.push_back(mount_point);
  }
  // Deepest (longest) first, so children go before their parents.
  std::sort(out.begin(), out.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return out;
}

Result<void> unmount_under(const std::string& dir) {
  auto mounts = mounts_under(dir);
  if (!mounts) return fail(std::move(mounts).error());
  for (const auto& m : *mounts) {
    // MNT_DETACH: a busy mount must not make cleanup fail; it goes when its last user does.
    if (::umount2(m.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
      return fail_errno(fmt::format("unmounting '{}'", m));
  }
  return {};
}

Result<void> remove_tree(const std::string& dir) {
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return fail_errno(fmt::format("inspecting '{}'", dir));
  }
  return remove_entry(AT_FDCWD, dir.c_str(), st.st_dev, dir);
}

}  // namespace nexus::jail::detail
