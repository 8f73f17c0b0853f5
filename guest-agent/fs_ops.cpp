// SPDX-License-Identifier: Apache-2.0
// ListDir walk, rm -rf and network-mount detection.
#include "guest-agent/fs_ops.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "common/unique_fd.hpp"

namespace nexus::agent {

namespace {

constexpr int kMaxRemoveDepth = 512;
constexpr int kRemoveRetries = 3;

// The names in a directory (without "." and ".."), sorted bytewise like Go's ReadDir.
Result<std::vector<std::string>> read_names(int dirfd) {
  int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return fail_errno("dup");
  DIR* d = ::fdopendir(dup);
  if (!d) {
    int err = errno;
    ::close(dup);
    return fail_errno(err, "opendir");
  }
  ::rewinddir(d);
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return fail_errno(err, "readdir");
  std::sort(names.begin(), names.end());
  return names;
}

Result<UniqueFd> open_dir(const std::string& path, bool follow) {
  int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW);
  UniqueFd fd(::open(path.c_str(), flags));
  if (!fd) return fail_errno(fmt::format("opening directory '{}'", path));
  return fd;
}

struct Walk {
  uint32_t depth;
  size_t max_entries;
  EntryInfoBuilder& builder;
  Json entries = Json::array();

  Result<void> dir(const std::string& path, int fd, uint32_t level) {
    auto names = read_names(fd);
    if (!names) return {};  // unreadable: listed by the parent, not descended
    for (const auto& name : *names) {
      struct stat lst {};
      if (::fstatat(fd, name.c_str(), &lst, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone
      if (entries.size() >= max_entries)
        return fail(Errc::too_large, fmt::format("more than {} entries", max_entries));
      std::string child = join_path(path, name);
      entries.push_back(builder.build(child, lst));
      if (!S_ISDIR(lst.st_mode) || level >= depth) continue;
      UniqueFd sub(::openat(fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub) continue;
      NEXUS_TRY(dir(child, sub.get(), level + 1));
    }
    return {};
  }
};

// Remove everything inside the open directory `fd`.
Result<void> remove_contents(int fd, const std::string& path, int depth) {
  if (depth > kMaxRemoveDepth)
    return fail(Errc::too_large, fmt::format("'{}' is nested too deeply", path));
  std::optional<Error> first;
  auto names = read_names(fd);
  if (!names) return fail(std::move(names).error().wrap(fmt::format("reading '{}'", path)));
  for (const auto& name : *names) {
    std::string child = join_path(path, name);
    if (::unlinkat(fd, name.c_str(), 0) == 0 || errno == ENOENT) continue;
    if (errno != EISDIR && errno != EPERM) {
      if (!first) first = Error::last_errno(fmt::format("removing '{}'", child));
      continue;
    }
    UniqueFd sub(::openat(fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    Result<void> r = sub ? remove_contents(sub.get(), child, depth + 1)
                         : Result<void>(fail_errno(fmt::format("opening '{}'", child)));
    if (r && ::unlinkat(fd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
      r = fail_errno(fmt::format("removing '{}'", child));
    if (!r && !first) first = std::move(r).error();
  }
  if (first) return fail(std::move(*first));
  return {};
}

}  // namespace

std::string join_path(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

Result<Json> list_dir(const std::string& path, uint32_t depth, EntryInfoBuilder& builder,
                      size_t max_entries) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT)
      return fail(Errc::not_found, fmt::format("directory '{}' does not exist", path));
    return fail_errno(fmt::format("stat '{}'", path));
  }
  if (!S_ISDIR(st.st_mode))
    return fail(Errc::invalid_argument, fmt::format("path '{}' is not a directory", path));
  auto fd = open_dir(path, true);
  if (!fd) return fail(std::move(fd).error());
  Walk walk{depth == 0 ? 1 : depth, max_entries, builder};
  NEXUS_TRY(walk.dir(path, fd->get(), 1));
  return std::move(walk.entries);
}

Result<void> remove_all(const std::string& path) {
  if (path == "/") return fail(Errc::invalid_argument, "refusing to remove '/'");
  for (int attempt = 0;; ++attempt) {
    if (::unlink(path.c_str()) == 0 || errno == ENOENT) return {};
    if (errno != EISDIR && errno != EPERM) return fail_errno(fmt::format("removing '{}'", path));
    auto fd = open_dir(path, false);
    if (!fd) {
      if (fd.error().errno_value() == ENOENT) return {};
      return fail(std::move(fd).error());
    }
    NEXUS_TRY(remove_contents(fd->get(), path, 0));
    if (::rmdir(path.c_str()) == 0 || errno == ENOENT) return {};
    // Something was created meanwhile: go again a few times.
    if (errno != ENOTEMPTY || attempt + 1 >= kRemoveRetries)
      return fail_errno(fmt::format("removing '{}'", path));
  }
}

Result<bool> is_network_mount(const std::string& path) {
  struct statfs sf {};
  if (::statfs(path.c_str(), &sf) != 0) return fail_errno(fmt::format("statfs '{}'", path));
  switch (static_cast<uint64_t>(static_cast<uint32_t>(sf.f_type))) {
    case 0x6969:      // NFS
    case 0x517B:      // SMB
    case 0xFF534D42:  // CIFS
    case 0xFE534D42:  // SMB2
    case 0x65735546:  // FUSE
    case 0x01021997:  // 9p
    case 0x00C36400:  // Ceph
    case 0x5346414F:  // AFS
    case 0x73757245:  // Coda
    case 0x564C:      // NCP
      return true;
    default:
      return false;
  }
}

}  // namespace nexus::agent
