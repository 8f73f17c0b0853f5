// SPDX-License-Identifier: Apache-2.0
// Sparse ext4 disks with mkfs.ext4, and the pool of pre-formatted ones.
#include "rootfs/disk_image.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <ctime>
#include <vector>

#include <fmt/format.h>

#include "common/unique_fd.hpp"
#include "rootfs/erofs_export.hpp"
#include "rootfs/fs_util.hpp"
#include "rootfs/subprocess.hpp"

namespace nexus::rootfs {

namespace {

constexpr uint64_t kMinDiskBytes = 16ull << 20;
constexpr std::string_view kTmpPrefix = ".tmp-";
constexpr std::string_view kExt = ".ext4";

std::string random_hex() {
  uint64_t v = 0;
  if (::getrandom(&v, sizeof v, 0) != static_cast<ssize_t>(sizeof v)) {
    // getrandom cannot fail for 8 bytes once the pool is initialised; fall back anyway.
    static uint64_t counter = 0;
    v = (static_cast<uint64_t>(::getpid()) << 32) ^ static_cast<uint64_t>(::time(nullptr)) ^
        ++counter;
  }
  return fmt::format("{:016x}", v);
}

std::string parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string tmp_name(const std::string& dir) {
  return fmt::format("{}/{}{}-{}{}", dir, kTmpPrefix, ::getpid(), random_hex(), kExt);
}

bool is_hex16(std::string_view s) {
  if (s.size() != 16) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// The pid in ".tmp-<pid>-<hex>.ext4", or 0 when the name is not ours.
pid_t tmp_owner(std::string_view name) {
  if (!name.starts_with(kTmpPrefix) || !name.ends_with(kExt)) return 0;
  name.remove_prefix(kTmpPrefix.size());
  name.remove_suffix(kExt.size());
  auto dash = name.find('-');
  if (dash == std::string_view::npos || !is_hex16(name.substr(dash + 1))) return 0;
  pid_t pid = 0;
  auto [p, ec] = std::from_chars(name.data(), name.data() + dash, pid);
  if (ec != std::errc() || p != name.data() + dash || pid <= 0) return 0;
  return pid;
}

Result<std::vector<std::string>> list_dir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return fail_errno(fmt::format("listing {}", dir));
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
  int err = errno;
  ::closedir(d);
  if (err != 0) return fail_errno(err, fmt::format("listing {}", dir));
  return names;
}

// mkfs.ext4 on a new sparse file at `path` (which must not exist); removed again on failure.
Result<void> format_at(const std::string& path, uint64_t size_bytes) {
  if (size_bytes < kMinDiskBytes || size_bytes % 4096 != 0)
    return fail(Errc::invalid_argument,
                fmt::format("invalid disk size {} (a multiple of 4096, at least 16 MiB)", size_bytes));
  auto mkfs = find_tool("mkfs.ext4", "e2fsprogs");
  if (!mkfs) return fail(std::move(mkfs).error());
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) return fail_errno(fmt::format("creating {}", path));
  auto remove = [&](Error e) {
    (void)::unlink(path.c_str());
    return fail(std::move(e));
  };
  if (::ftruncate(fd.get(), static_cast<off_t>(size_bytes)) != 0)
    return remove(Error::last_errno(fmt::format("sizing {}", path)));
  std::vector<std::string> argv = {*mkfs, "-q", "-F", "-m", "0", "-b", "4096", "-L", "nexus-rw",
                                   "-O", "^has_journal", "-E", "lazy_itable_init=1,nodiscard",
                                   path};
  // MKE2FS_CONFIG stays the system's; E2FSPROGS_FAKE_TIME etc. are not ours to set.
  if (auto r = run_command(argv, nullptr); !r)
    return remove(std::move(r.error().wrap(fmt::format("formatting {}", path))));
  if (::fsync(fd.get()) != 0) return remove(Error::last_errno(fmt::format("syncing {}", path)));
  return {};
}

}  // namespace

Result<void> create_disk(const std::string& path, uint64_t size_bytes) {
  if (path.empty() || path.back() == '/')
    return fail(Errc::invalid_argument, fmt::format("invalid disk path '{}'", path));
  std::string tmp = fmt::format("{}.tmp-{}-{}", path, ::getpid(), random_hex());
  NEXUS_TRY(format_at(tmp, size_bytes));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Error e = Error::last_errno(fmt::format("renaming {} to {}", tmp, path));
    (void)::unlink(tmp.c_str());
    return fail(std::move(e));
  }
  return fsync_dir(parent_dir(path));
}

// --- DiskPool ---------------------------------------------------------------------------

DiskPool::DiskPool(std::string dir, uint64_t size_bytes, size_t target_count)
    : dir_(std::move(dir)), size_(size_bytes), target_(target_count) {}

std::string DiskPool::ready_prefix() const { return fmt::format("disk-{}-", size_); }

Result<size_t> DiskPool::ready_count() const {
  auto names = list_dir(dir_);
  if (!names) {
    if (names.error().errno_value() == ENOENT) return size_t{0};
    return fail(std::move(names).error());
  }
  std::string prefix = ready_prefix();
  size_t n = 0;
  for (const auto& name : *names) {
    std::string_view v(name);
    if (v.starts_with(prefix) && v.ends_with(kExt) &&
        is_hex16(v.substr(prefix.size(), v.size() - prefix.size() - kExt.size())))
      ++n;
  }
  return n;
}

Result<void> DiskPool::format_ready_disk() {
  std::string tmp = tmp_name(dir_);
  NEXUS_TRY(format_at(tmp, size_));
  std::string ready = fmt::format("{}/{}{}{}", dir_, ready_prefix(), random_hex(), kExt);
  if (::rename(tmp.c_str(), ready.c_str()) != 0) {
    Error e = Error::last_errno(fmt::format("renaming {} to {}", tmp, ready));
    (void)::unlink(tmp.c_str());
    return fail(std::move(e));
  }
  return fsync_dir(dir_);
}

Result<std::string> DiskPool::take(const std::string& dest) {
  NEXUS_TRY(make_dirs(dir_, 0700));
  std::string target = dest.empty() ? fmt::format("{}/taken-{}{}", dir_, random_hex(), kExt) : dest;
  auto names = list_dir(dir_);
  if (!names) return fail(std::move(names).error());
  std::string prefix = ready_prefix();
  for (const auto& name : *names) {
    std::string_view v(name);
    if (!v.starts_with(prefix) || !v.ends_with(kExt) ||
        !is_hex16(v.substr(prefix.size(), v.size() - prefix.size() - kExt.size())))
      continue;
    std::string ready = dir_ + "/" + name;
    if (::rename(ready.c_str(), target.c_str()) == 0) return target;
    if (errno == ENOENT) continue;  // another taker won this one
    return fail_errno(fmt::format("moving {} to {}", ready, target));
  }
  // Empty pool: format one now, under a temporary name in the pool, then move it.
  std::string tmp = tmp_name(dir_);
  NEXUS_TRY(format_at(tmp, size_));
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    Error e = Error::last_errno(fmt::format("moving {} to {}", tmp, target));
    (void)::unlink(tmp.c_str());
    return fail(std::move(e));
  }
  return target;
}

Result<void> DiskPool::refill() {
  std::lock_guard<std::mutex> guard(refill_mu_);
  NEXUS_TRY(make_dirs(dir_, 0700));
  auto lock = FileLock::acquire(dir_ + "/.lock");
  if (!lock) return fail(std::move(lock).error());
  auto names = list_dir(dir_);
  if (!names) return fail(std::move(names).error());
  for (const auto& name : *names) {
    pid_t owner = tmp_owner(name);
    if (owner == 0 || owner == ::getpid()) continue;  // not ours, or formatting right now
    if (::kill(owner, 0) == 0 || errno != ESRCH) continue;  // that process is still alive
    std::string leftover = dir_ + "/" + name;
    if (::unlink(leftover.c_str()) != 0 && errno != ENOENT)
      return fail_errno(fmt::format("removing the leftover {}", leftover));
  }
  for (;;) {
    auto n = ready_count();
    if (!n) return fail(std::move(n).error());
    if (*n >= target_) return {};
    NEXUS_TRY(format_ready_disk());
  }
}

}  // namespace nexus::rootfs
