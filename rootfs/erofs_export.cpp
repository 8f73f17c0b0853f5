// SPDX-License-Identifier: Apache-2.0
// mkfs.erofs run on a template tree (optionally through an idmapped mount), made
// deterministic and written atomically.
#include "rootfs/erofs_export.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "common/unique_fd.hpp"
#include "rootfs/fs_util.hpp"
#include "rootfs/subprocess.hpp"

namespace nexus::rootfs {

namespace {

// --- the superblock (include/erofs_fs.h: struct erofs_super_block) ---------------------
constexpr off_t kSuperOffset = 1024;
constexpr uint32_t kErofsMagic = 0xE0F5E1E2;
constexpr uint32_t kFeatureCompatSbChksum = 0x1;
constexpr size_t kOffMagic = 0, kOffChecksum = 4, kOffFeatureCompat = 8, kOffBlkSzBits = 12,
                 kOffBuildTime = 24, kOffBuildTimeNsec = 32;

uint32_t get_le32(const unsigned char* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
void put_le32(unsigned char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
void put_le64(unsigned char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

// The kernel's crc32c(seed, data, len): reflected Castagnoli polynomial, no final xor.
uint32_t crc32c(uint32_t crc, const unsigned char* data, size_t len) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  for (size_t i = 0; i < len; ++i) crc = table[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
  return crc;
}

uint32_t superblock_checksum(std::vector<unsigned char> sb) {
  put_le32(sb.data() + kOffChecksum, 0);
  return crc32c(~0u, sb.data(), sb.size());
}

// mkfs.erofs 1.5 keeps per-file mtimes only when the build time is "now" (-T and
// SOURCE_DATE_EPOCH force every mtime), so it writes the current time into the superblock.
// Rewrite it to 0 and recompute the checksum. Only inodes whose mtime equalled the build time
// exactly (files dated in the future, clamped by mkfs) are compact and read the superblock's
// time; they read 1970 afterwards. The checksum of the original is verified first: if it does
// not match (an unknown layout), the image is left as mkfs wrote it.
Result<bool> zero_build_time(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) return fail_errno(fmt::format("opening {}", path));
  unsigned char head[16];
  if (::pread(fd.get(), head, sizeof head, kSuperOffset) != static_cast<ssize_t>(sizeof head))
    return fail(Errc::internal, fmt::format("{}: short superblock", path));
  if (get_le32(head + kOffMagic) != kErofsMagic)
    return fail(Errc::internal, fmt::format("{}: not an EROFS image", path));
  unsigned bits = head[kOffBlkSzBits];
  if (bits < 11 || bits > 16) return false;  // blocks smaller than the superblock's end
  std::vector<unsigned char> sb((size_t{1} << bits) - kSuperOffset);
  if (::pread(fd.get(), sb.data(), sb.size(), kSuperOffset) != static_cast<ssize_t>(sb.size()))
    return fail(Errc::internal, fmt::format("{}: short superblock block", path));
  bool has_csum = (get_le32(sb.data() + kOffFeatureCompat) & kFeatureCompatSbChksum) != 0;
  if (has_csum && superblock_checksum(sb) != get_le32(sb.data() + kOffChecksum)) return false;
  put_le64(sb.data() + kOffBuildTime, 0);
  put_le32(sb.data() + kOffBuildTimeNsec, 0);
  if (has_csum) put_le32(sb.data() + kOffChecksum, superblock_checksum(sb));
  if (::pwrite(fd.get(), sb.data(), sb.size(), kSuperOffset) != static_cast<ssize_t>(sb.size()))
    return fail_errno(fmt::format("rewriting the superblock of {}", path));
  return true;
}

std::string parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// --- the idmapped view of a shifted tree -----------------------------------------------

Result<void> write_proc_file(const std::string& path, const std::string& data) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return fail_errno(fmt::format("opening {}", path));
  if (::write(fd.get(), data.data(), data.size()) != static_cast<ssize_t>(data.size()))
    return fail_errno(fmt::format("writing '{}' to {}", data, path));
  return {};
}

// A user namespace mapping on-disk ids [shift, shift+65536) to 0..65535, as an fd for
// MOUNT_ATTR_IDMAP. The namespace needs a process to be created: a raw clone whose child only
// blocks in read() and exits (async-signal-safe, so fine in a threaded daemon).
Result<UniqueFd> idmap_userns(uint32_t shift) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return fail_errno("pipe2");
  UniqueFd rd(fds[0]), wr(fds[1]);
  long pid = ::syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
  if (pid < 0) return fail_errno("creating a user namespace for the id mapping");
  if (pid == 0) {
    ::close(fds[1]);
    char c;
    (void)!::read(fds[0], &c, 1);
    ::_exit(0);
  }
  rd.reset();
  auto reap = [&] {
    wr.reset();
    int status;
    while (::waitpid(static_cast<pid_t>(pid), &status, 0) < 0 && errno == EINTR) {
    }
  };
  std::string map = fmt::format("{} 0 65536\n", shift);
  std::string proc = fmt::format("/proc/{}/", pid);
  Result<void> r = write_proc_file(proc + "uid_map", map);
  if (r) r = write_proc_file(proc + "gid_map", map);
  UniqueFd ns;
  if (r) {
    ns = UniqueFd(::open((proc + "ns/user").c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) r = fail_errno("opening the id-mapping user namespace");
  }
  reap();
  if (!r) return fail(std::move(r).error());
  return ns;
}

// Runs fn(view) on a thread with its own mount namespace in which `view` is a read-only
// idmapped bind mount of `tree`. Processes fn spawns inherit that namespace; it disappears
// with them and the thread, so nothing is left mounted on the host.
Result<void> with_idmapped_tree(const std::string& tree, const std::string& view,
                                uint32_t shift,
                                const std::function<Result<void>(const std::string&)>& fn) {
  auto userns = idmap_userns(shift);
  if (!userns) return fail(std::move(userns).error());
  Result<void> result;
  auto body = [&]() -> Result<void> {
    if (::unshare(CLONE_NEWNS) != 0) return fail_errno("unshare(CLONE_NEWNS)");
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
      return fail_errno("making the export's mounts private");
    UniqueFd mnt(::open_tree(AT_FDCWD, tree.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
    if (!mnt) return fail_errno(fmt::format("cloning a mount of {}", tree));
    struct mount_attr attr {};
    attr.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY;
    attr.userns_fd = static_cast<uint64_t>(userns->get());
    if (::mount_setattr(mnt.get(), "", AT_EMPTY_PATH, &attr, sizeof attr) != 0)
      return fail_errno(fmt::format(
          "idmapping {} (needs a filesystem with idmapped-mount support)", tree));
    if (::move_mount(mnt.get(), "", AT_FDCWD, view.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0)
      return fail_errno(fmt::format("mounting the idmapped tree on {}", view));
    return fn(view);
  };
  try {
    std::thread t([&] { result = body(); });
    t.join();
  } catch (const std::exception& e) {
    return fail(Errc::internal, fmt::format("starting the export thread: {}", e.what()));
  }
  return result;
}

}  // namespace

Result<std::string> find_tool(const std::string& name, const std::string& package) {
  std::vector<std::string> dirs = {"/usr/sbin", "/usr/bin", "/sbin", "/bin"};
  if (const char* path = std::getenv("PATH")) {
    std::string_view p(path);
    while (!p.empty()) {
      auto colon = p.find(':');
      std::string_view d = p.substr(0, colon);
      if (!d.empty() && d.front() == '/') dirs.emplace_back(d);
      p = colon == std::string_view::npos ? std::string_view() : p.substr(colon + 1);
    }
  }
  for (const auto& d : dirs) {
    std::string candidate = d + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return fail(Errc::not_found,
              package.empty() ? fmt::format("{} not found", name)
                              : fmt::format("{} not found (install {})", name, package));
}

Result<void> export_erofs(const std::string& tree_dir, const std::string& out_path,
                          const ErofsOptions& o) {
  auto mkfs = find_tool("mkfs.erofs", "erofs-utils");
  if (!mkfs) return fail(std::move(mkfs).error());
  struct stat st {};
  if (::stat(tree_dir.c_str(), &st) != 0) return fail_errno(fmt::format("exporting {}", tree_dir));
  if (!S_ISDIR(st.st_mode))
    return fail(Errc::invalid_argument, fmt::format("exporting {}: not a directory", tree_dir));
  if (out_path.empty() || out_path.back() == '/')
    return fail(Errc::invalid_argument, fmt::format("invalid image path '{}'", out_path));

  std::string dir = parent_dir(out_path);
  std::string tmp = out_path + ".tmp-XXXXXX";
  UniqueFd tmp_fd(::mkstemp(tmp.data()));
  if (!tmp_fd) return fail_errno(fmt::format("creating a temporary file beside {}", out_path));
  tmp_fd.reset();
  std::string view;
  auto cleanup = [&] {
    (void)::unlink(tmp.c_str());
    if (!view.empty()) (void)::rmdir(view.c_str());
  };

  auto run_mkfs = [&](const std::string& source) -> Result<void> {
    std::vector<std::string> argv;
    // SOURCE_DATE_EPOCH (even empty) forces every file's mtime in erofs-utils 1.5: drop it.
    if (std::getenv("SOURCE_DATE_EPOCH") != nullptr)
      argv = {"/usr/bin/env", "-u", "SOURCE_DATE_EPOCH"};
    argv.insert(argv.end(), {*mkfs, "--quiet", "-U" + o.uuid});
    if (o.fixed_mtime) argv.push_back(fmt::format("-T{}", *o.fixed_mtime));
    if (o.lz4) argv.emplace_back("-zlz4");
    argv.push_back(tmp);
    argv.push_back(source);
    return run_command(argv, o.on_line);
  };

  Result<void> built;
  if (o.id_shift == 0) {
    built = run_mkfs(tree_dir);
  } else {
    auto v = make_temp_dir(dir, ".erofs-tree-");
    if (!v) {
      cleanup();
      return fail(std::move(v).error());
    }
    view = *v;
    built = with_idmapped_tree(tree_dir, view, o.id_shift, run_mkfs);
  }
  if (!built) {
    cleanup();
    return fail(std::move(built.error().wrap(fmt::format("exporting {} to EROFS", tree_dir))));
  }
  if (!o.fixed_mtime) {
    auto z = zero_build_time(tmp);
    if (!z) {
      cleanup();
      return fail(std::move(z).error());
    }
    if (!*z) report(o.on_line, "unknown EROFS superblock layout: build time left as written");
  }
  UniqueFd fd(::open(tmp.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd || ::fchmod(fd.get(), 0644) != 0 || ::fsync(fd.get()) != 0) {
    Error e = Error::last_errno(fmt::format("syncing {}", tmp));
    cleanup();
    return fail(std::move(e));
  }
  if (::rename(tmp.c_str(), out_path.c_str()) != 0) {
    Error e = Error::last_errno(fmt::format("renaming {} to {}", tmp, out_path));
    cleanup();
    return fail(std::move(e));
  }
  if (!view.empty()) (void)::rmdir(view.c_str());
  return fsync_dir(dir);
}

}  // namespace nexus::rootfs
