// SPDX-License-Identifier: Apache-2.0
// Filesystem helpers.
#include "rootfs/fs_util.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <vector>

#include <fmt/format.h>

namespace nexus::rootfs {

Result<void> make_dirs(const std::string& path, unsigned mode) {
  if (path.empty()) return fail(Errc::invalid_argument, "empty directory path");
  for (size_t pos = 0; pos != std::string::npos;) {
    pos = path.find('/', pos + 1);
    std::string part = path.substr(0, pos);
    if (mkdir(part.c_str(), mode) != 0 && errno != EEXIST)
      return fail_errno(fmt::format("creating {}", part));
  }
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return fail_errno(fmt::format("stat {}", path));
  if (!S_ISDIR(st.st_mode))
    return fail(Errc::conflict, fmt::format("{} exists and is not a directory", path));
  return {};
}

Result<std::string> make_temp_dir(const std::string& dir, const std::string& prefix) {
  std::string tmpl = fmt::format("{}/{}XXXXXX", dir, prefix);
  if (mkdtemp(tmpl.data()) == nullptr)
    return fail_errno(fmt::format("creating a temporary directory in {}", dir));
  return tmpl;
}

Result<void> remove_tree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) return fail(Error(ec, fmt::format("removing {}", path)));
  return {};
}

Result<void> fsync_dir(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return fail_errno(fmt::format("opening {}", path));
  if (fsync(fd.get()) != 0) return fail_errno(fmt::format("fsync {}", path));
  return {};
}

Result<void> sync_filesystem(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return fail_errno(fmt::format("opening {}", path));
  if (syncfs(fd.get()) != 0) return fail_errno(fmt::format("syncfs {}", path));
  return {};
}

Result<void> write_file_synced(const std::string& path, std::string_view data) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return fail_errno(fmt::format("creating {}", path));
  while (!data.empty()) {
    ssize_t n = write(fd.get(), data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno(fmt::format("writing {}", path));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  if (fsync(fd.get()) != 0) return fail_errno(fmt::format("fsync {}", path));
  return {};
}

Result<std::string> read_file(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return fail(Errc::not_found, fmt::format("{} does not exist", path));
    return fail_errno(fmt::format("opening {}", path));
  }
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno(fmt::format("reading {}", path));
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Result<bool> path_exists(const std::string& path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT) return false;
  return fail_errno(fmt::format("stat {}", path));
}

Result<FileLock> FileLock::acquire(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return fail_errno(fmt::format("opening lock {}", path));
  while (flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return fail_errno(fmt::format("locking {}", path));
  }
  return FileLock(std::move(fd));
}

}  // namespace nexus::rootfs
