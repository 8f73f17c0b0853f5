// SPDX-License-Identifier: Apache-2.0
// RootDir: openat2-based resolution beneath the destination, fd-based removal.
#include "rootfs/layer/root_dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <memory>

#include <fmt/format.h>

namespace nexus::rootfs::layer {

namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY;

struct DirCloser {
  void operator()(DIR* d) const { (void)closedir(d); }
};

std::string quoted_prefix(std::string_view rel, size_t end) {
  return fmt::format("'{}'", rel.substr(0, end));
}

}  // namespace

int open_beneath(int dirfd, const char* path, int flags) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC | O_NOFOLLOW);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  for (;;) {
    long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    // EAGAIN: a concurrent rename somewhere on the way; the kernel asks for a retry.
    if (fd < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    return static_cast<int>(fd);
  }
}

Result<RootDir> RootDir::open(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), kDirFlags | O_CLOEXEC));
  if (!fd) return fail_errno(fmt::format("opening destination {}", path));
  // Proves openat2 works here before anything depends on it.
  UniqueFd probe(open_beneath(fd.get(), ".", kDirFlags));
  if (!probe)
    return fail_errno(fmt::format("openat2 in {} (needs Linux 5.6 or later)", path));
  auto names = list_dir(fd.get());
  if (!names) return fail(std::move(names).error());
  if (!names->empty())
    return fail(Errc::invalid_argument,
                fmt::format("destination {} is not empty ('{}')", path, names->front()));
  return RootDir(std::move(fd), path);
}

Result<UniqueFd> RootDir::open_dir(std::string_view rel) const {
  return walk(rel, false, 0, 0);
}

Result<UniqueFd> RootDir::make_dirs(std::string_view rel, uid_t uid, gid_t gid) const {
  return walk(rel, true, uid, gid);
}

Result<UniqueFd> RootDir::walk(std::string_view rel, bool create, uid_t uid, gid_t gid) const {
  std::string whole(rel.empty() ? "." : rel);
  // Fast path: the whole directory at once, which the kernel resolves with the same rules.
  if (UniqueFd fd(open_beneath(fd_.get(), whole.c_str(), kDirFlags)); fd) return fd;
  // Slow path, one component at a time: to create what is missing, or to say which
  // component is the problem.
  UniqueFd cur(open_beneath(fd_.get(), ".", kDirFlags));
  if (!cur) return fail_errno("opening the root");
  size_t start = 0;
  while (start < rel.size()) {
    size_t end = rel.find('/', start);
    if (end == std::string_view::npos) end = rel.size();
    std::string part(rel.substr(start, end - start));
    UniqueFd next(open_beneath(cur.get(), part.c_str(), kDirFlags));
    if (!next && errno == ENOENT && create) {
      if (mkdirat(cur.get(), part.c_str(), 0700) != 0 && errno != EEXIST)
        return fail_errno(fmt::format("creating {}", quoted_prefix(rel, end)));
      next.reset(open_beneath(cur.get(), part.c_str(), kDirFlags));
      if (next && (fchown(next.get(), uid, gid) != 0 || fchmod(next.get(), 0755) != 0))
        return fail_errno(fmt::format("setting up {}", quoted_prefix(rel, end)));
    }
    if (!next) {
      int err = errno;
      // With O_DIRECTORY the kernel reports a symlink as ENOTDIR; look, to say which it is.
      struct stat st {};
      if (err == ELOOP ||
          (fstatat(cur.get(), part.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)))
        return fail(Errc::invalid_argument,
                    fmt::format("{} is a symlink, and nothing is written through one",
                                quoted_prefix(rel, end)));
      return fail_errno(err, fmt::format("opening {}", quoted_prefix(rel, end)));
    }
    cur = std::move(next);
    start = end + 1;
  }
  return cur;
}

Result<std::vector<std::string>> list_dir(int dirfd) {
  int dup_fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
  if (dup_fd < 0) return fail_errno("duplicating a directory fd");
  std::unique_ptr<DIR, DirCloser> dir(fdopendir(dup_fd));
  if (!dir) {
    int err = errno;
    (void)close(dup_fd);
    return fail_errno(err, "reading a directory");
  }
  rewinddir(dir.get());
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    dirent* d = readdir(dir.get());
    if (d == nullptr) break;
    std::string_view n(d->d_name);
    if (n != "." && n != "..") names.emplace_back(n);
  }
  if (errno != 0) return fail_errno("reading a directory");
  return names;
}

Result<void> remove_entry(int dirfd, const std::string& name) {
  struct stat st {};
  if (fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};
    return fail_errno(fmt::format("inspecting '{}'", name));
  }
  if (S_ISDIR(st.st_mode)) {
    UniqueFd sub(openat(dirfd, name.c_str(), kDirFlags | O_NOFOLLOW | O_CLOEXEC));
    if (!sub) return fail_errno(fmt::format("opening '{}'", name));
    auto names = list_dir(sub.get());
    if (!names) return fail(std::move(names).error());
    for (const auto& n : *names) {
      if (auto r = remove_entry(sub.get(), n); !r)
        return fail(std::move(r).error().wrap(fmt::format("removing '{}'", name)));
    }
  }
  if (unlinkat(dirfd, name.c_str(), S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) != 0)
    return fail_errno(fmt::format("removing '{}'", name));
  return {};
}

}  // namespace nexus::rootfs::layer
