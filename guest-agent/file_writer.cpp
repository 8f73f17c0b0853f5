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

FileWriter::FileWriter(std::string path, std::string temp, UniqueFd fd, const User& user,
                       bool switch_identity)
    : path_(std::move(path)),
      temp_(std::move(temp)),
      fd_(std::move(fd)),
      user_(user),
      switch_identity_(switch_identity) {}

Result<std::unique_ptr<FileWriter>> FileWriter::open(
    const std::string& path, const User& user, bool switch_identity,
    const std::optional<FileMetadata>& metadata) {
  if (path == "/") return fail(Errc::invalid_argument, "path '/' is a directory");
  std::string dir = parent_dir(path);
  NEXUS_TRY(make_dirs(dir, user, switch_identity));
  FsIdentity as_user(user, switch_identity);
  struct stat st {};
  mode_t mode = 0644;
  FileMetadata md = metadata.value_or(FileMetadata());
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode))
      return fail(Errc::invalid_argument, fmt::format("path '{}' is a directory", path));
    if (S_ISREG(st.st_mode)) {
      mode = st.st_mode & 0777;  // keep the old permissions
      if (!metadata) md = read_metadata(path);
    }
  }
  for (int attempt = 0; attempt < 16; ++attempt) {
    std::string temp = fmt::format("{}/.{}.upload-{}", dir, base_name(path), random_hex(6));
    if (temp.size() >= 4096) temp = fmt::format("{}/.upload-{}", dir, random_hex(8));
    int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
      if (errno == EEXIST) continue;
      return fail_errno(fmt::format("creating '{}'", path));
    }
    std::unique_ptr<FileWriter> w(
        new FileWriter(path, std::move(temp), UniqueFd(fd), user, switch_identity));
    // Before the chmod: a read-only mode would forbid setting attributes.
    if (!md.empty()) {
      auto r = write_metadata_fd(fd, md);
      if (!r && metadata) return fail(std::move(r).error());  // copying old ones: best effort
      if (r) w->metadata_ = std::move(md);
    }
    (void)::fchmod(fd, mode);
    return w;
  }
  return fail(Errc::internal, "could not create a temporary file");
}

FileWriter::~FileWriter() {
  if (committed_ || temp_.empty()) return;
  fd_.reset();
  FsIdentity as_user(user_, switch_identity_);
  (void)::unlink(temp_.c_str());
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
  FsIdentity as_user(user_, switch_identity_);
  if (::rename(temp_.c_str(), path_.c_str()) != 0) {
    int err = errno;
    if (err == EISDIR)
      return fail(Errc::invalid_argument, fmt::format("path '{}' is a directory", path_));
    return fail_errno(err, fmt::format("renaming onto '{}'", path_));
  }
  committed_ = true;
  return {};
}

}  // namespace nexus::agent
