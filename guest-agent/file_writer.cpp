// SPDX-License-Identifier: Apache-2.0
// Atomic file upload writer.
#include "guest-agent/file_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "common/strings.hpp"
#include "guest-agent/fs_identity.hpp"
#include "guest-agent/paths.hpp"

namespace nexus::agent {

Result<void> make_dirs(const std::string& dir, const User& user, bool switch_identity) {
  FsIdentity as_user(user, switch_identity);
  std::string cur;
  for (const auto& part : split(dir, '/')) {
    if (part.empty()) continue;
    cur += "/" + part;
    if (::mkdir(cur.c_str(), 0755) == 0) continue;
    int err = errno;
    struct stat st {};
    if (::stat(cur.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) continue;
      return fail(Errc::invalid_argument, fmt::format("'{}' is not a directory", cur));
    }
    return fail_errno(err, fmt::format("creating directory '{}'", cur));
  }
  return {};
}

FileWriter::FileWriter(std::string path, UniqueFd fd, bool created, const User& user, bool switch_identity)
    : path_(std::move(path)), fd_(std::move(fd)), created_(created), user_(user), switch_identity_(switch_identity) {}

Result<std::unique_ptr<FileWriter>> FileWriter::open(
    const std::string& path, const User& user, bool switch_identity,
    const std::optional<FileMetadata>& metadata) {
  if (path == "/") return fail(Errc::invalid_argument, "path '/' is a directory");
  NEXUS_TRY(make_dirs(parent_dir(path), user, switch_identity));
  // As the user (fsuid), so permissions, and the symlinks followed, are the user's.
  FsIdentity as_user(user, switch_identity);
  struct stat st {};
  bool existed = ::stat(path.c_str(), &st) == 0;
  if (existed && S_ISDIR(st.st_mode)) return fail(Errc::invalid_argument, fmt::format("path '{}' is a directory", path));
  // O_NONBLOCK: a FIFO put at the path must not stall the agent (it is refused below).
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0644);
  if (fd < 0) {
    if (errno == EISDIR) return fail(Errc::invalid_argument, fmt::format("path '{}' is a directory", path));
    if (errno == ENXIO) return fail(Errc::invalid_argument, fmt::format("path '{}' is not a regular file", path));
    return fail_errno(fmt::format("opening '{}' for writing", path));
  }
  std::unique_ptr<FileWriter> w(new FileWriter(path, UniqueFd(fd), !existed, user, switch_identity));
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    w->created_ = false;
    return fail(Errc::invalid_argument, fmt::format("path '{}' is not a regular file", path));
  }
  (void)::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  if (metadata) {
    NEXUS_TRY(write_metadata_fd(fd, *metadata));
    w->metadata_ = *metadata;
  } else {
    w->metadata_ = read_metadata_fd(fd);
  }
  return w;
}

FileWriter::~FileWriter() {
  if (committed_ || !created_) return;
  fd_.reset();
  FsIdentity as_user(user_, switch_identity_);
  (void)::unlink(path_.c_str());
}

Result<void> FileWriter::write(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd_.get(), data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno(fmt::format("writing '{}'", path_));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

Result<void> FileWriter::commit() {
  if (::close(fd_.release()) != 0) return fail_errno(fmt::format("writing '{}'", path_));
  committed_ = true;
  return {};
}

}  // namespace nexus::agent
