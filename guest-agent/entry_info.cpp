// SPDX-License-Identifier: Apache-2.0
// EntryInfo fields: type, Go permission strings, timestamps, owner names, metadata.
#include "guest-agent/entry_info.hpp"

#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <memory>

#include <fmt/format.h>

#include "guest-agent/paths.hpp"
#include "guest-agent/users.hpp"
#include "guest-agent/xattr_metadata.hpp"

namespace nexus::agent {

namespace {

// Where a symlink leads: the fully resolved path when it resolves, otherwise its own text
// made absolute against the link's directory.
std::string symlink_target(const std::string& path) {
  std::unique_ptr<char, decltype(&std::free)> real(::realpath(path.c_str(), nullptr), &std::free);
  if (real) return real.get();
  char buf[PATH_MAX];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  if (n <= 0) return path;
  std::string text(buf, static_cast<size_t>(n));
  auto abs = resolve_path(text.front() == '/' ? text : parent_dir(path) + "/" + text, "/");
  return abs ? *abs : text;
}

}  // namespace

std::string go_file_mode_string(mode_t mode) {
  // Go's type letters in bit order "dalTLDpSugct?"; of those stat(2) can give d, L, D,
  // p, S, u, g, c and t (os/stat_linux.go).
  std::string out;
  switch (mode & S_IFMT) {
    case S_IFDIR: out += 'd'; break;
    case S_IFLNK: out += 'L'; break;
    case S_IFBLK: out += 'D'; break;
    case S_IFCHR: out += 'D'; break;
    case S_IFIFO: out += 'p'; break;
    case S_IFSOCK: out += 'S'; break;
    default: break;
  }
  if (mode & S_ISUID) out += 'u';
  if (mode & S_ISGID) out += 'g';
  if ((mode & S_IFMT) == S_IFCHR) out += 'c';
  if (mode & S_ISVTX) out += 't';
  if (out.empty()) out += '-';
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i) out += (mode & (1u << (8 - i))) ? rwx[i] : '-';
  return out;
}

std::string format_timestamp(const struct timespec& ts) {
  struct tm tm {};
  time_t secs = ts.tv_sec;
  ::gmtime_r(&secs, &tm);
  std::string out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", tm.tm_year + 1900,
                                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  long nanos = ts.tv_nsec;
  if (nanos > 0 && nanos < 1000000000L) {
    if (nanos % 1000000 == 0)
      out += fmt::format(".{:03}", nanos / 1000000);
    else if (nanos % 1000 == 0)
      out += fmt::format(".{:06}", nanos / 1000);
    else
      out += fmt::format(".{:09}", nanos);
  }
  return out + "Z";
}

const char* file_type_name(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG: return "FILE_TYPE_FILE";
    case S_IFDIR: return "FILE_TYPE_DIRECTORY";
    case S_IFLNK: return "FILE_TYPE_SYMLINK";
    default: return "FILE_TYPE_UNSPECIFIED";
  }
}

void EntryInfoBuilder::load_names() {
  if (loaded_) return;
  loaded_ = true;
  if (auto passwd = read_small_file(etc_dir_ + "/passwd"))
    for (auto& p : parse_passwd(*passwd)) users_.emplace(p.uid, std::move(p.name));
  if (auto group = read_small_file(etc_dir_ + "/group"))
    for (auto& g : parse_group(*group)) groups_.emplace(g.gid, std::move(g.name));
}

std::string EntryInfoBuilder::user_name(uid_t uid) {
  load_names();
  auto it = users_.find(uid);
  return it != users_.end() ? it->second : std::to_string(uid);
}

std::string EntryInfoBuilder::group_name(gid_t gid) {
  load_names();
  auto it = groups_.find(gid);
  return it != groups_.end() ? it->second : std::to_string(gid);
}

Result<Json> EntryInfoBuilder::build(const std::string& path) {
  struct stat lst {};
  if (::lstat(path.c_str(), &lst) != 0) return fail_errno(fmt::format("stat '{}'", path));
  return build(path, lst);
}

Json EntryInfoBuilder::build(const std::string& path, const struct stat& lst) {
  const char* type = file_type_name(lst.st_mode);
  mode_t perm = lst.st_mode & 0777;
  std::optional<std::string> target;
  if (S_ISLNK(lst.st_mode)) {
    target = symlink_target(path);
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      type = file_type_name(st.st_mode);
      perm = st.st_mode & 0777;
    } else {
      type = "FILE_TYPE_UNSPECIFIED";
      perm = 0;
    }
  }
  Json e = {
      {"name", path == "/" ? std::string("/") : base_name(path)},
      {"type", type},
      {"path", path},
      {"size", std::to_string(lst.st_size)},
      {"mode", static_cast<uint32_t>(perm)},
      {"permissions", go_file_mode_string(lst.st_mode)},
      {"owner", user_name(lst.st_uid)},
      {"group", group_name(lst.st_gid)},
      {"modifiedTime", format_timestamp(lst.st_mtim)},
  };
  if (target) e["symlinkTarget"] = *target;
  auto metadata = read_metadata(path);
  if (!metadata.empty()) e["metadata"] = metadata;
  return e;
}

}  // namespace nexus::agent
