// SPDX-License-Identifier: Apache-2.0
// Upper-dir merge, COPY and owner lookups for Nexusfile builds.
#include "daemon/build_tree.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>

#include <fmt/format.h>

#include "common/unique_fd.hpp"

namespace nexus::daemon::build {
namespace {

constexpr size_t kMaxEtcFile = 4 * 1024 * 1024;
constexpr int kMaxDepth = 256;

UniqueFd open_in(int dirfd, const std::string& path, uint64_t flags, uint64_t resolve) {
  open_how how{};
  how.flags = flags | O_CLOEXEC;
  how.resolve = resolve;
  return UniqueFd(static_cast<int>(::syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how)));
}

Result<UniqueFd> open_dir(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return fail_errno(fmt::format("opening '{}'", path));
  return fd;
}

/// Names in a directory, without "." and "..", sorted (deterministic builds and errors).
Result<std::vector<std::string>> list_dir(int dirfd, const std::string& what) {
  int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return fail_errno(fmt::format("listing '{}'", what));
  DIR* d = ::fdopendir(dup);
  if (!d) {
    int err = errno;
    ::close(dup);
    return fail_errno(err, fmt::format("listing '{}'", what));
  }
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

/// An xattr of the entry `name` in `dirfd`, without following a symlink; nullopt when absent.
std::optional<std::string> get_xattr(int dirfd, const std::string& name, const char* key) {
  std::string path = fmt::format("/proc/self/fd/{}/{}", dirfd, name);
  char buf[256];
  ssize_t n = ::lgetxattr(path.c_str(), key, buf, sizeof buf);
  if (n < 0) return std::nullopt;
  return std::string(buf, static_cast<size_t>(n));
}

/// Removes the entry `name` of `dirfd`, a whole directory tree included. Absent is fine.
Result<void> remove_at(int dirfd, const std::string& name, const std::string& what, int depth = 0) {
  struct stat st {};
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};
    return fail_errno(fmt::format("inspecting '{}'", what));
  }
  if (S_ISDIR(st.st_mode)) {
    if (depth > kMaxDepth) return fail(Errc::too_large, fmt::format("'{}' is nested too deeply", what));
    UniqueFd sub = open_in(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH);
    if (!sub) return fail_errno(fmt::format("opening '{}'", what));
    auto names = list_dir(sub.get(), what);
    if (!names) return fail(std::move(names).error());
    for (const auto& n : *names) NEXUS_TRY(remove_at(sub.get(), n, what + "/" + n, depth + 1));
    if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0) return fail_errno(fmt::format("removing '{}'", what));
    return {};
  }
  if (::unlinkat(dirfd, name.c_str(), 0) != 0 && errno != ENOENT) return fail_errno(fmt::format("removing '{}'", what));
  return {};
}

/// Drops trusted.overlay.* xattrs of the entry and, for a directory moved whole, of
/// everything below it; whiteouts below it (none are expected) are removed.
Result<void> scrub(int dirfd, const std::string& name, const std::string& what, int depth = 0) {
  std::string path = fmt::format("/proc/self/fd/{}/{}", dirfd, name);
  char keys[4096];
  ssize_t n = ::llistxattr(path.c_str(), keys, sizeof keys);
  for (ssize_t off = 0; n > 0 && off < n;) {
    std::string key(keys + off);
    off += static_cast<ssize_t>(key.size()) + 1;
    if (key.rfind("trusted.overlay.", 0) == 0) (void)::lremovexattr(path.c_str(), key.c_str());  // best effort
  }
  struct stat st {};
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return fail_errno(fmt::format("inspecting '{}'", what));
  if (!S_ISDIR(st.st_mode)) return {};
  if (depth > kMaxDepth) return fail(Errc::too_large, fmt::format("'{}' is nested too deeply", what));
  UniqueFd sub = open_in(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH);
  if (!sub) return fail_errno(fmt::format("opening '{}'", what));
  auto names = list_dir(sub.get(), what);
  if (!names) return fail(std::move(names).error());
  for (const auto& c : *names) {
    struct stat cs {};
    if (::fstatat(sub.get(), c.c_str(), &cs, AT_SYMLINK_NOFOLLOW) != 0) return fail_errno(fmt::format("inspecting '{}/{}'", what, c));
    if (S_ISCHR(cs.st_mode) && cs.st_rdev == makedev(0, 0)) {
      if (::unlinkat(sub.get(), c.c_str(), 0) != 0) return fail_errno(fmt::format("removing '{}/{}'", what, c));
      continue;
    }
    NEXUS_TRY(scrub(sub.get(), c, what + "/" + c, depth + 1));
  }
  return {};
}

/// Mode, owner, times and the non-overlay xattrs of directory `from` onto directory `to`.
Result<void> copy_dir_metadata(int from, int to, const std::string& what) {
  struct stat st {};
  if (::fstat(from, &st) != 0) return fail_errno(fmt::format("inspecting '{}'", what));
  if (::fchown(to, st.st_uid, st.st_gid) != 0 || ::fchmod(to, st.st_mode & 07777) != 0)
    return fail_errno(fmt::format("setting the owner and mode of '{}'", what));
  char keys[4096];
  ssize_t n = ::flistxattr(from, keys, sizeof keys);
  for (ssize_t off = 0; n > 0 && off < n;) {
    std::string key(keys + off);
    off += static_cast<ssize_t>(key.size()) + 1;
    if (key.rfind("trusted.overlay.", 0) == 0) continue;
    std::string value(64 * 1024, '\0');
    ssize_t len = ::fgetxattr(from, key.c_str(), value.data(), value.size());
    if (len >= 0) (void)::fsetxattr(to, key.c_str(), value.data(), static_cast<size_t>(len), 0);  // as layers: best effort
  }
  timespec times[2] = {st.st_atim, st.st_mtim};
  (void)::futimens(to, times);  // times are cosmetic
  return {};
}

Result<void> merge_dir(int upper, int tree, const std::string& what, MergeStats& stats, int depth) {
  if (depth > kMaxDepth) return fail(Errc::too_large, fmt::format("'{}' is nested too deeply", what));
  auto names = list_dir(upper, what);
  if (!names) return fail(std::move(names).error());
  for (const auto& name : *names) {
    std::string path = what + "/" + name;
    struct stat st {};
    if (::fstatat(upper, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return fail_errno(fmt::format("inspecting '{}'", path));
    if (get_xattr(upper, name, "trusted.overlay.redirect") || get_xattr(upper, name, "trusted.overlay.metacopy"))
      return fail(Errc::invalid_argument,
                  fmt::format("'{}' uses overlayfs redirect_dir/metacopy, which builds do not support", path));
    if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {  // whiteout
      NEXUS_TRY(remove_at(tree, name, path));
      if (::unlinkat(upper, name.c_str(), 0) != 0) return fail_errno(fmt::format("removing '{}'", path));
      ++stats.whiteouts;
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      auto opaque = get_xattr(upper, name, "trusted.overlay.opaque");
      if (opaque && *opaque != "y")
        return fail(Errc::invalid_argument, fmt::format("'{}' has an unsupported overlayfs opaque value", path));
      struct stat ts {};
      bool tree_dir = ::fstatat(tree, name.c_str(), &ts, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(ts.st_mode);
      if (tree_dir && !opaque) {
        UniqueFd u = open_in(upper, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH);
        UniqueFd t = open_in(tree, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH);
        if (!u || !t) return fail_errno(fmt::format("opening '{}'", path));
        NEXUS_TRY(merge_dir(u.get(), t.get(), path, stats, depth + 1));
        NEXUS_TRY(copy_dir_metadata(u.get(), t.get(), path));
        if (::unlinkat(upper, name.c_str(), AT_REMOVEDIR) != 0) return fail_errno(fmt::format("removing '{}'", path));
        continue;
      }
      if (opaque) ++stats.opaque;
    }
    NEXUS_TRY(remove_at(tree, name, path));
    if (::renameat(upper, name.c_str(), tree, name.c_str()) != 0) {
      if (errno == EXDEV) return fail(Errc::internal, fmt::format("moving '{}': the upper dir is on another filesystem", path));
      return fail_errno(fmt::format("moving '{}' into the tree", path));
    }
    NEXUS_TRY(scrub(tree, name, path));
    ++stats.moved;
  }
  return {};
}

// ---- /etc/passwd and /etc/group

Result<std::string> read_in_root(const std::string& root, const std::string& path) {
  auto rootfd = open_dir(root);
  if (!rootfd) return fail(std::move(rootfd).error());
  UniqueFd fd = open_in(rootfd->get(), path, O_RDONLY | O_NOCTTY, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
  if (!fd) {
    if (errno == ENOENT) return std::string();
    return fail_errno(fmt::format("opening {}", path));
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno(fmt::format("reading {}", path));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxEtcFile) return fail(Errc::too_large, fmt::format("{} is larger than 4 MiB", path));
  }
  return out;
}

std::vector<std::vector<std::string>> colon_lines(const std::string& text) {
  std::vector<std::vector<std::string>> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> fields;
    size_t f = 0;
    for (;;) {
      size_t c = line.find(':', f);
      fields.push_back(line.substr(f, c == std::string::npos ? std::string::npos : c - f));
      if (c == std::string::npos) break;
      f = c + 1;
    }
    out.push_back(std::move(fields));
  }
  return out;
}

std::optional<uint32_t> parse_id(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v > 65535) return std::nullopt;
  return v;
}

// ---- COPY

bool has_glob(std::string_view s) { return s.find_first_of("*?[") != std::string_view::npos; }

Result<void> walk_context(int dirfd, const std::string& rel, std::vector<std::string>& out, int depth) {
  if (depth > kMaxDepth) return fail(Errc::too_large, fmt::format("'{}' is nested too deeply", rel));
  auto names = list_dir(dirfd, rel.empty() ? "." : rel);
  if (!names) return fail(std::move(names).error());
  for (const auto& n : *names) {
    std::string path = rel.empty() ? n : rel + "/" + n;
    out.push_back(path);
    struct stat st {};
    if (::fstatat(dirfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
      UniqueFd sub = open_in(dirfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH);
      if (!sub) return fail_errno(fmt::format("opening '{}'", path));
      NEXUS_TRY(walk_context(sub.get(), path, out, depth + 1));
    }
  }
  return {};
}

struct Copier {
  const CopyOwner& owner;
  CopyStats stats;

  Result<void> file(int src_dir, const std::string& name, int dst_dir, const std::string& dst_name, const struct stat& st,
                    const std::string& what) {
    UniqueFd in = open_in(src_dir, name, O_RDONLY | O_NOFOLLOW, RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH);
    if (!in) return fail_errno(fmt::format("opening '{}' in the context", what));
    struct stat existing {};
    if (::fstatat(dst_dir, dst_name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0) {
      if (S_ISDIR(existing.st_mode)) return fail(Errc::invalid_argument, fmt::format("cannot copy file '{}' over a directory", what));
      if (::unlinkat(dst_dir, dst_name.c_str(), 0) != 0) return fail_errno(fmt::format("replacing '{}'", dst_name));
    }
    UniqueFd out(::openat(dst_dir, dst_name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out) return fail_errno(fmt::format("creating '{}'", dst_name));
    off_t left = st.st_size;
    while (left > 0) {
      ssize_t n = ::copy_file_range(in.get(), nullptr, out.get(), nullptr, static_cast<size_t>(left), 0);
      if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
        char buf[65536];
        n = ::read(in.get(), buf, sizeof buf);
        if (n > 0 && ::write(out.get(), buf, static_cast<size_t>(n)) != n) return fail_errno(fmt::format("writing '{}'", dst_name));
      }
      if (n < 0) {
        if (errno == EINTR) continue;
        return fail_errno(fmt::format("copying '{}'", what));
      }
      if (n == 0) break;  // the file shrank
      left -= n;
    }
    if (::fchown(out.get(), owner.uid, owner.gid) != 0 || ::fchmod(out.get(), st.st_mode & 07777) != 0)
      return fail_errno(fmt::format("setting the owner of '{}'", dst_name));
    timespec times[2] = {st.st_atim, st.st_mtim};
    (void)::futimens(out.get(), times);  // cosmetic
    ++stats.files;
    stats.bytes += static_cast<uint64_t>(st.st_size);
    return {};
  }

  Result<void> symlink(int src_dir, const std::string& name, int dst_dir, const std::string& dst_name, const std::string& what) {
    char target[4097];
    ssize_t n = ::readlinkat(src_dir, name.c_str(), target, sizeof target - 1);
    if (n < 0) return fail_errno(fmt::format("reading the link '{}'", what));
    target[n] = '\0';
    NEXUS_TRY(remove_at(dst_dir, dst_name, dst_name));
    if (::symlinkat(target, dst_dir, dst_name.c_str()) != 0) return fail_errno(fmt::format("creating the link '{}'", dst_name));
    if (::fchownat(dst_dir, dst_name.c_str(), owner.uid, owner.gid, AT_SYMLINK_NOFOLLOW) != 0)
      return fail_errno(fmt::format("setting the owner of '{}'", dst_name));
    ++stats.symlinks;
    return {};
  }

  /// A directory `dst_name` in dst_dir (made, or an existing one reused), opened.
  Result<UniqueFd> dir(int dst_dir, const std::string& dst_name, mode_t mode, bool chown_existing) {
    struct stat existing {};
    bool made = false;
    if (::fstatat(dst_dir, dst_name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(existing.st_mode))
      NEXUS_TRY(remove_at(dst_dir, dst_name, dst_name));
    if (::mkdirat(dst_dir, dst_name.c_str(), 0700) == 0) made = true;
    else if (errno != EEXIST) return fail_errno(fmt::format("creating the directory '{}'", dst_name));
    UniqueFd fd = open_in(dst_dir, dst_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH);
    if (!fd) return fail_errno(fmt::format("opening the directory '{}'", dst_name));
    if (made || chown_existing) {
      if (::fchown(fd.get(), owner.uid, owner.gid) != 0 || ::fchmod(fd.get(), mode & 07777) != 0)
        return fail_errno(fmt::format("setting the owner of '{}'", dst_name));
      ++stats.dirs;
    }
    return fd;
  }

  Result<void> tree(int src_dir, int dst_dir, const std::string& what, int depth) {
    if (depth > kMaxDepth) return fail(Errc::too_large, fmt::format("'{}' is nested too deeply", what));
    auto names = list_dir(src_dir, what);
    if (!names) return fail(std::move(names).error());
    for (const auto& n : *names) NEXUS_TRY(entry(src_dir, n, dst_dir, n, what + "/" + n, depth));
    return {};
  }

  Result<void> entry(int src_dir, const std::string& name, int dst_dir, const std::string& dst_name,
                     const std::string& what, int depth) {
    struct stat st {};
    if (::fstatat(src_dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return fail_errno(fmt::format("inspecting '{}'", what));
    if (S_ISREG(st.st_mode)) return file(src_dir, name, dst_dir, dst_name, st, what);
    if (S_ISLNK(st.st_mode)) return symlink(src_dir, name, dst_dir, dst_name, what);
    if (!S_ISDIR(st.st_mode)) return {};  // FIFOs, devices: not copied
    UniqueFd src = open_in(src_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH);
    if (!src) return fail_errno(fmt::format("opening '{}'", what));
    auto dst = dir(dst_dir, dst_name, st.st_mode, true);
    if (!dst) return fail(std::move(dst).error());
    return tree(src.get(), dst->get(), what, depth + 1);
  }
};

/// Opens the absolute directory `path` in the tree (resolved in its root), making the
/// missing components with owner uid/gid and mode 0755.
Result<UniqueFd> open_dest_dir(int rootfd, const std::string& path, uint32_t uid, uint32_t gid) {
  UniqueFd cur(::fcntl(rootfd, F_DUPFD_CLOEXEC, 0));
  if (!cur) return fail_errno("dup");
  std::string walked;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t slash = path.find('/', pos);
    std::string comp = path.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    pos = slash == std::string::npos ? path.size() : slash + 1;
    if (comp.empty() || comp == ".") continue;
    if (comp == "..") return fail(Errc::invalid_argument, fmt::format("'{}' has a '..' component", path));
    walked += "/" + comp;
    // Resolve from the root each time, so a symlink in the tree stays inside it.
    UniqueFd next = open_in(rootfd, walked, O_RDONLY | O_DIRECTORY, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
    if (!next && errno == ENOENT) {
      if (::mkdirat(cur.get(), comp.c_str(), 0755) != 0 && errno != EEXIST)
        return fail_errno(fmt::format("creating '{}'", walked));
      next = open_in(rootfd, walked, O_RDONLY | O_DIRECTORY, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
      if (next && ::fchown(next.get(), uid, gid) != 0) return fail_errno(fmt::format("chown '{}'", walked));
    }
    if (!next) return fail_errno(fmt::format("opening '{}' in the tree", walked));
    cur = std::move(next);
  }
  return cur;
}

std::pair<std::string, std::string> split_dest(const std::string& dest) {
  std::string d = dest;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  size_t slash = d.rfind('/');
  if (slash == std::string::npos) return {"/", d};
  return {slash == 0 ? "/" : d.substr(0, slash), d.substr(slash + 1)};
}

}  // namespace

Result<MergeStats> merge_upper(const std::string& upper, const std::string& tree) {
  auto u = open_dir(upper);
  if (!u) return fail(std::move(u).error());
  auto t = open_dir(tree);
  if (!t) return fail(std::move(t).error());
  MergeStats stats;
  NEXUS_TRY(merge_dir(u->get(), t->get(), "", stats, 0));
  return stats;
}

Result<Owner> resolve_owner(const std::string& tree, std::string_view spec) {
  std::string user(spec.substr(0, spec.find(':')));
  std::optional<std::string> group;
  if (auto c = spec.find(':'); c != std::string_view::npos) group = std::string(spec.substr(c + 1));
  auto passwd = read_in_root(tree, "/etc/passwd");
  if (!passwd) return fail(std::move(passwd).error());
  Owner o;
  bool found = false;
  auto id = parse_id(user);
  for (const auto& f : colon_lines(*passwd)) {
    if (f.size() < 4) continue;
    auto uid = parse_id(f[2]);
    auto gid = parse_id(f[3]);
    if (!uid || !gid) continue;
    if ((id && *uid == *id) || (!id && f[0] == user)) {
      o = {*uid, *gid, f[0]};
      found = true;
      break;
    }
  }
  if (!found) {
    if (!id) return fail(Errc::invalid_argument, fmt::format("unknown user '{}' (not in the tree's /etc/passwd)", user));
    o = {*id, *id, ""};
  }
  if (group) {
    if (auto gid = parse_id(*group)) {
      o.gid = *gid;
    } else {
      auto groups = read_in_root(tree, "/etc/group");
      if (!groups) return fail(std::move(groups).error());
      bool gfound = false;
      for (const auto& f : colon_lines(*groups))
        if (f.size() >= 3 && f[0] == *group)
          if (auto g = parse_id(f[2])) {
            o.gid = *g;
            gfound = true;
            break;
          }
      if (!gfound) return fail(Errc::invalid_argument, fmt::format("unknown group '{}' (not in the tree's /etc/group)", *group));
    }
  }
  return o;
}

Result<std::vector<std::string>> expand_source(const std::string& context, const std::string& source) {
  if (!has_glob(source)) return std::vector<std::string>{source};
  auto root = open_dir(context);
  if (!root) return fail(std::move(root).error());
  std::vector<std::string> all, out;
  NEXUS_TRY(walk_context(root->get(), "", all, 0));
  for (const auto& p : all)
    if (::fnmatch(source.c_str(), p.c_str(), FNM_PATHNAME | FNM_PERIOD) == 0) out.push_back(p);
  if (out.empty()) return fail(Errc::not_found, fmt::format("COPY source '{}' matches nothing in the build context", source));
  return out;
}

Result<CopyStats> copy_into(const std::string& context, const std::vector<std::string>& sources,
                            const std::string& dest, const std::string& tree, const CopyOwner& owner) {
  if (dest.empty() || dest[0] != '/') return fail(Errc::invalid_argument, fmt::format("COPY destination '{}' is not absolute", dest));
  auto ctx = open_dir(context);
  if (!ctx) return fail(std::move(ctx).error());
  auto root = open_dir(tree);
  if (!root) return fail(std::move(root).error());
  std::vector<std::string> expanded;
  for (const auto& s : sources) {
    auto e = expand_source(context, s);
    if (!e) return fail(std::move(e).error());
    expanded.insert(expanded.end(), e->begin(), e->end());
  }
  Copier c{owner, {}};
  // Is dest a directory? A trailing '/', several sources, or an existing directory.
  bool dest_is_dir = dest.back() == '/' || expanded.size() > 1;
  if (!dest_is_dir) {
    UniqueFd probe = open_in(root->get(), dest, O_RDONLY | O_DIRECTORY, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
    dest_is_dir = probe.valid();
  }
  for (const auto& src : expanded) {
    std::string rel = src.empty() ? "." : src;
    // The source is resolved inside the context: a symlink in it never leads outside.
    UniqueFd parent;
    std::string name;
    struct stat st {};
    UniqueFd sfd = open_in(ctx->get(), rel, O_PATH | O_NOFOLLOW, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
    if (!sfd) {
      if (errno == ENOENT) return fail(Errc::not_found, fmt::format("COPY source '{}' is not in the build context", src));
      return fail_errno(fmt::format("opening '{}' in the build context", src));
    }
    if (::fstatat(sfd.get(), "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) return fail_errno(fmt::format("inspecting '{}'", src));
    if (S_ISDIR(st.st_mode)) {
      UniqueFd sdir = open_in(ctx->get(), rel, O_RDONLY | O_DIRECTORY, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
      if (!sdir) return fail_errno(fmt::format("opening '{}' in the build context", src));
      auto ddir = open_dest_dir(root->get(), dest, owner.root_uid, owner.root_uid);
      if (!ddir) return fail(std::move(ddir).error());
      NEXUS_TRY(c.tree(sdir.get(), ddir->get(), src, 0));
      continue;
    }
    std::string base = src.substr(src.rfind('/') == std::string::npos ? 0 : src.rfind('/') + 1);
    std::string parent_path = dest, dst_name = base;
    if (!dest_is_dir) std::tie(parent_path, dst_name) = split_dest(dest);
    auto ddir = open_dest_dir(root->get(), parent_path, owner.root_uid, owner.root_uid);
    if (!ddir) return fail(std::move(ddir).error());
    // sfd is an O_PATH fd of the entry itself: reach it through its parent in the context.
    std::string sparent = src.find('/') == std::string::npos ? "." : src.substr(0, src.rfind('/'));
    UniqueFd sp = open_in(ctx->get(), sparent, O_RDONLY | O_DIRECTORY, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
    if (!sp) return fail_errno(fmt::format("opening '{}' in the build context", sparent));
    NEXUS_TRY(c.entry(sp.get(), base, ddir->get(), dst_name, src, 0));
  }
  return c.stats;
}

Result<void> make_dirs_in(const std::string& tree, const std::string& path, uint32_t uid, uint32_t gid) {
  auto root = open_dir(tree);
  if (!root) return fail(std::move(root).error());
  auto d = open_dest_dir(root->get(), path, uid, gid);
  if (!d) return fail(std::move(d).error());
  return {};
}

}  // namespace nexus::daemon::build
