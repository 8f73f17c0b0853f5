// SPDX-License-Identifier: Apache-2.0
// microVM images: export_erofs, create_disk, DiskPool.
//
// Two runs of this executable (tests/rootfs/meson.build): the default one runs the tests that
// need only the tools (mkfs.erofs, fsck.erofs, mkfs.ext4, e2fsck); `--root-tests` runs the
// [root] ones (loop devices, mounts, chown, the idmapped export). Each exits 77 (SKIP) with
// the reason when what it needs is missing.
#define CATCH_CONFIG_RUNNER
#include <catch.hpp>

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "rootfs/disk_image.hpp"
#include "rootfs/erofs_export.hpp"
#include "rootfs/fs_util.hpp"
#include "rootfs/subprocess.hpp"
#include "test_util.hpp"

// Catch2 v2 has no *_MESSAGE: the message is shown when the check fails.
#define REQUIRE_MESSAGE(cond, msg) \
  do {                             \
    INFO(msg);                     \
    REQUIRE(cond);                 \
  } while (0)
#define CHECK_MESSAGE(cond, msg) \
  do {                           \
    INFO(msg);                   \
    CHECK(cond);                 \
  } while (0)

using namespace nexus;
using namespace nexus::rootfs;
using nexus::rootfs::test::TempDir;
using nexus::rootfs::test::exists;
using nexus::rootfs::test::lstat_of;
using nexus::rootfs::test::slurp;
using nexus::rootfs::test::spit;

namespace {

// Runs a tool; returns its merged output, or the error message prefixed with "ERROR: ".
std::string run(const std::vector<std::string>& argv, bool* ok = nullptr) {
  std::string out;
  auto r = run_command(argv, [&](std::string_view l) { out.append(l).append("\n"); });
  if (ok != nullptr) *ok = r.has_value();
  return r ? out : "ERROR: " + r.error().message();
}

void set_mtime(const std::string& path, time_t t) {
  struct timespec ts[2] = {{t, 0}, {t, 0}};
  REQUIRE(::utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW) == 0);
}

// A small tree: a file, an executable, a private dir, a symlink, a hard link, a setuid file,
// an empty file, a user xattr (when the filesystem takes it: returns whether it did), fixed
// mtimes.
bool make_tree(const std::string& root) {
  REQUIRE(make_dirs(root + "/etc"));
  REQUIRE(make_dirs(root + "/usr/bin"));
  REQUIRE(::mkdir((root + "/private").c_str(), 0750) == 0);
  spit(root + "/etc/os-release", "ID=nexus-test\n");
  spit(root + "/usr/bin/tool", "#!/bin/sh\necho tool\n");
  REQUIRE(::chmod((root + "/usr/bin/tool").c_str(), 0755) == 0);
  spit(root + "/usr/bin/suid", "x");
  REQUIRE(::chmod((root + "/usr/bin/suid").c_str(), 04755) == 0);
  spit(root + "/private/secret", "s3cret");
  REQUIRE(::chmod((root + "/private/secret").c_str(), 0600) == 0);
  spit(root + "/empty", "");
  REQUIRE(::symlink("../etc/os-release", (root + "/usr/os-release").c_str()) == 0);
  REQUIRE(::link((root + "/usr/bin/tool").c_str(), (root + "/usr/bin/tool-link").c_str()) == 0);
  std::string big(256 * 1024, 'a');
  spit(root + "/usr/big", big);
  bool xattr = ::lsetxattr((root + "/etc/os-release").c_str(), "user.nexus", "v", 1, 0) == 0;
  for (const char* p : {"etc/os-release", "usr/bin/tool", "private/secret", "usr/os-release",
                        "usr/big", "empty"})
    set_mtime(root + "/" + p, 1600000000);
  set_mtime(root + "/etc", 1600000100);
  return xattr;
}

std::string file_bytes(const std::string& path) { return slurp(path); }

// A loop device over a file, detached on destruction.
class Loop {
 public:
  explicit Loop(const std::string& file, bool read_only) {
    std::vector<std::string> argv = {"losetup", "--find", "--show"};
    if (read_only) argv.emplace_back("--read-only");
    argv.push_back(file);
    bool ok = false;
    std::string out = run(argv, &ok);
    if (!ok) FAIL("losetup: " << out);
    dev_ = out.substr(0, out.find('\n'));
  }
  ~Loop() {
    if (!dev_.empty()) (void)run({"losetup", "-d", dev_});
  }
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;
  const std::string& dev() const { return dev_; }

 private:
  std::string dev_;
};

// Runs fn in a forked child with a private mount namespace; returns what fn reported ("" is
// success). fn may mount freely: the mounts vanish with the child.
template <class Fn>
std::string in_mount_namespace(Fn fn) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    std::string report;
    if (::unshare(CLONE_NEWNS) != 0 ||
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
      report = std::string("unshare/private: ") + std::strerror(errno);
    else
      report = fn();
    (void)!::write(fds[1], report.data(), report.size());
    ::_exit(report.empty() ? 0 : 1);
  }
  ::close(fds[1]);
  std::string report;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) report.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  if (report.empty() && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
    report = "child failed with status " + std::to_string(status);
  return report;
}

std::vector<std::string> dir_names(const std::string& dir) {
  std::vector<std::string> out;
  bool ok = false;
  std::string listing = run({"ls", "-A", dir}, &ok);
  REQUIRE(ok);
  size_t pos = 0;
  while (pos < listing.size()) {
    auto nl = listing.find('\n', pos);
    out.push_back(listing.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}

bool mounted_erofs_checks(const std::string& mnt, std::string& why) {
  auto expect = [&](bool cond, const std::string& what) {
    if (!cond) why += what + "; ";
    return cond;
  };
  struct stat st {};
  expect(slurp(mnt + "/etc/os-release") == "ID=nexus-test\n", "os-release content");
  expect(::lstat((mnt + "/usr/bin/suid").c_str(), &st) == 0 && (st.st_mode & 07777) == 04755,
         "setuid mode");
  expect(::lstat((mnt + "/private").c_str(), &st) == 0 && (st.st_mode & 07777) == 0750,
         "private dir mode");
  char link[256] = {};
  expect(::readlink((mnt + "/usr/os-release").c_str(), link, sizeof link - 1) > 0 &&
             std::string(link) == "../etc/os-release",
         "symlink target");
  struct stat a {}, b {};
  expect(::lstat((mnt + "/usr/bin/tool").c_str(), &a) == 0 &&
             ::lstat((mnt + "/usr/bin/tool-link").c_str(), &b) == 0 && a.st_ino == b.st_ino &&
             a.st_nlink == 2,
         "hard link");
  expect(::lstat((mnt + "/etc/os-release").c_str(), &st) == 0 && st.st_mtime == 1600000000,
         "file mtime kept");
  expect(::lstat((mnt + "/etc").c_str(), &st) == 0 && st.st_mtime == 1600000100,
         "dir mtime kept");
  return why.empty();
}

}  // namespace

// --- export_erofs -----------------------------------------------------------------------

TEST_CASE("export_erofs builds an image fsck.erofs accepts, deterministic and atomic") {
  TempDir tmp;
  make_tree(tmp / "tree");
  std::string img = tmp / "out/rootfs.erofs";
  REQUIRE(make_dirs(tmp / "out"));
  auto t0 = std::chrono::steady_clock::now();
  auto r = export_erofs(tmp / "tree", img);
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0);
  REQUIRE_MESSAGE(r, (r ? "" : r.error().message()));
  WARN("export_erofs of a 10-entry tree: " << ms.count() << " ms");
  CHECK((lstat_of(img).st_mode & 0777) == 0644);
  bool ok = false;
  std::string out = run({"fsck.erofs", img}, &ok);
  CHECK_MESSAGE(ok, out);

  // Same tree, same bytes (the build time is normalised), and the old image is replaced.
  std::string first = file_bytes(img);
  REQUIRE(export_erofs(tmp / "tree", img));
  CHECK(file_bytes(img) == first);
  CHECK(dir_names(tmp / "out") == std::vector<std::string>{"rootfs.erofs"});

  // Read it back without root: fsck.erofs --extract keeps modes, links and mtimes.
  out = run({"fsck.erofs", "--extract=" + (tmp / "x"), "--preserve-perms", img}, &ok);
  REQUIRE_MESSAGE(ok, out);
  CHECK(slurp(tmp / "x/etc/os-release") == "ID=nexus-test\n");
  CHECK((lstat_of(tmp / "x/private").st_mode & 0777) == 0750);
  CHECK((lstat_of(tmp / "x/usr/bin/tool").st_mode & 0777) == 0755);
  CHECK(S_ISLNK(lstat_of(tmp / "x/usr/os-release").st_mode));
  CHECK(lstat_of(tmp / "x/etc/os-release").st_mtime == 1600000000);
  CHECK(slurp(tmp / "x/usr/big").size() == 256 * 1024);
}

TEST_CASE("export_erofs options: fixed mtime and lz4") {
  TempDir tmp;
  make_tree(tmp / "tree");
  ErofsOptions fixed;
  fixed.fixed_mtime = 1234567890;
  REQUIRE(export_erofs(tmp / "tree", tmp / "fixed.erofs", fixed));
  bool ok = false;
  std::string out = run({"fsck.erofs", "--extract=" + (tmp / "x"), tmp / "fixed.erofs"}, &ok);
  REQUIRE_MESSAGE(ok, out);
  CHECK(lstat_of(tmp / "x/etc/os-release").st_mtime == 1234567890);

  REQUIRE(export_erofs(tmp / "tree", tmp / "plain.erofs"));
  ErofsOptions lz4;
  lz4.lz4 = true;
  REQUIRE(export_erofs(tmp / "tree", tmp / "lz4.erofs", lz4));
  out = run({"fsck.erofs", tmp / "lz4.erofs"}, &ok);
  CHECK_MESSAGE(ok, out);
  CHECK(lstat_of(tmp / "lz4.erofs").st_size < lstat_of(tmp / "plain.erofs").st_size);
}

TEST_CASE("export_erofs errors name the problem and leave nothing behind") {
  TempDir tmp;
  auto r = export_erofs(tmp / "missing", tmp / "a.erofs");
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message(), Catch::Contains(tmp / "missing"));
  spit(tmp / "file", "x");
  r = export_erofs(tmp / "file", tmp / "a.erofs");
  REQUIRE_FALSE(r);
  CHECK(r.error().is(Errc::invalid_argument));
  // The output's directory missing: an error, and no temporary file anywhere.
  REQUIRE(make_dirs(tmp / "tree"));
  r = export_erofs(tmp / "tree", tmp / "no-such-dir/a.erofs");
  REQUIRE_FALSE(r);
  CHECK(dir_names(tmp.path()) == std::vector<std::string>{"file", "tree"});
}

// --- create_disk ------------------------------------------------------------------------

TEST_CASE("create_disk makes a sparse ext4 file without a journal that e2fsck accepts") {
  TempDir tmp;
  std::string disk = tmp / "rw.ext4";
  constexpr uint64_t kSize = 1ull << 30;
  auto t0 = std::chrono::steady_clock::now();
  auto r = create_disk(disk, kSize);
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0);
  REQUIRE_MESSAGE(r, (r ? "" : r.error().message()));
  WARN("create_disk of 1 GiB: " << ms.count() << " ms");
  struct stat st = lstat_of(disk);
  CHECK(static_cast<uint64_t>(st.st_size) == kSize);
  CHECK((st.st_mode & 0777) == 0600);
  uint64_t allocated = static_cast<uint64_t>(st.st_blocks) * 512;
  WARN("allocated: " << allocated / 1024 << " KiB of " << kSize / (1 << 20) << " MiB");
  CHECK(allocated < kSize / 20);
  bool ok = false;
  std::string out = run({"e2fsck", "-n", "-f", disk}, &ok);
  CHECK_MESSAGE(ok, out);
  out = run({"dumpe2fs", "-h", disk}, &ok);
  REQUIRE(ok);
  auto features = out.substr(out.find("Filesystem features:"));
  features = features.substr(0, features.find('\n'));
  CHECK_THAT(features, !Catch::Contains("has_journal"));
  CHECK_THAT(out, Catch::Contains("nexus-rw"));
  CHECK(dir_names(tmp.path()) == std::vector<std::string>{"rw.ext4"});
}

TEST_CASE("create_disk rejects bad sizes and paths") {
  TempDir tmp;
  CHECK(create_disk(tmp / "a", 4096).error().is(Errc::invalid_argument));
  CHECK(create_disk(tmp / "a", (64ull << 20) + 1).error().is(Errc::invalid_argument));
  CHECK(create_disk(tmp / "dir/", 64ull << 20).error().is(Errc::invalid_argument));
  CHECK_FALSE(create_disk(tmp / "missing/a", 64ull << 20));
  CHECK(dir_names(tmp.path()).empty());
}

// --- DiskPool ---------------------------------------------------------------------------

TEST_CASE("DiskPool: refill fills to the target, take hands disks out, empty pools format") {
  TempDir tmp;
  constexpr uint64_t kSize = 64ull << 20;
  DiskPool pool(tmp / "pool", kSize, 2);
  CHECK(*pool.ready_count() == 0);
  REQUIRE(pool.refill());
  CHECK(*pool.ready_count() == 2);
  REQUIRE(pool.refill());  // already full: nothing to do
  CHECK(*pool.ready_count() == 2);

  auto a = pool.take();
  REQUIRE(a);
  CHECK(a->starts_with(tmp / "pool/taken-"));
  CHECK(*pool.ready_count() == 1);
  auto b = pool.take(tmp / "sandbox-b.ext4");
  REQUIRE(b);
  CHECK(*b == tmp / "sandbox-b.ext4");
  CHECK(*pool.ready_count() == 0);
  auto t0 = std::chrono::steady_clock::now();
  auto c = pool.take(tmp / "sandbox-c.ext4");  // empty: formatted on the spot
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0);
  REQUIRE(c);
  WARN("take from an empty pool (64 MiB): " << ms.count() << " ms");
  for (const auto& p : {*a, *b, *c}) {
    CHECK(lstat_of(p).st_size == static_cast<off_t>(kSize));
    bool ok = false;
    std::string out = run({"e2fsck", "-n", "-f", p}, &ok);
    CHECK_MESSAGE(ok, out);
  }
  // Taken disks are not the pool's: refill formats two new ones and leaves taken- alone.
  REQUIRE(pool.refill());
  CHECK(*pool.ready_count() == 2);
  CHECK(exists(*a));
}

TEST_CASE("DiskPool ignores crash leftovers and other sizes") {
  TempDir tmp;
  constexpr uint64_t kSize = 32ull << 20;
  std::string dir = tmp / "pool";
  REQUIRE(make_dirs(dir));
  // A dead process's half-formatted disk, one of ours "in progress", junk, another size.
  pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  REQUIRE(::waitpid(dead, nullptr, 0) == dead);
  std::string dead_tmp = dir + "/.tmp-" + std::to_string(dead) + "-0123456789abcdef.ext4";
  std::string own_tmp = dir + "/.tmp-" + std::to_string(::getpid()) + "-0123456789abcdef.ext4";
  std::string junk = dir + "/disk-" + std::to_string(kSize) + "-nothex.ext4";
  std::string other = dir + "/disk-999424-0123456789abcdef.ext4";
  for (const auto& p : {dead_tmp, own_tmp, junk, other}) spit(p, "half");

  DiskPool pool(dir, kSize, 1);
  CHECK(*pool.ready_count() == 0);
  REQUIRE(pool.refill());
  CHECK(*pool.ready_count() == 1);
  CHECK_FALSE(exists(dead_tmp));
  CHECK(exists(own_tmp));
  CHECK(exists(junk));
  CHECK(exists(other));
  auto t = pool.take();
  REQUIRE(t);
  bool ok = false;
  std::string out = run({"e2fsck", "-n", "-f", *t}, &ok);
  CHECK_MESSAGE(ok, out);
  CHECK(slurp(other) == "half");
}

// --- as root: mounted images -----------------------------------------------------------

TEST_CASE("the erofs image mounts and keeps owners, modes, links and mtimes", "[root]") {
  TempDir tmp;
  bool xattr = make_tree(tmp / "tree");
  REQUIRE(::chown((tmp / "tree/private").c_str(), 1000, 1000) == 0);
  REQUIRE(::chown((tmp / "tree/private/secret").c_str(), 1000, 1001) == 0);
  REQUIRE(::lchown((tmp / "tree/usr/os-release").c_str(), 7, 8) == 0);
  REQUIRE(::chmod((tmp / "tree/usr/bin/suid").c_str(), 04755) == 0);  // chown cleared it
  REQUIRE(export_erofs(tmp / "tree", tmp / "rootfs.erofs"));
  Loop loop(tmp / "rootfs.erofs", true);
  std::string mnt = tmp / "mnt";
  REQUIRE(make_dirs(mnt));
  std::string report = in_mount_namespace([&]() -> std::string {
    if (::mount(loop.dev().c_str(), mnt.c_str(), "erofs", MS_RDONLY, nullptr) != 0)
      return std::string("mount erofs: ") + std::strerror(errno);
    std::string why;
    mounted_erofs_checks(mnt, why);
    struct stat st {};
    if (::lstat((mnt + "/private").c_str(), &st) != 0 || st.st_uid != 1000 || st.st_gid != 1000)
      why += "dir owner; ";
    if (::lstat((mnt + "/private/secret").c_str(), &st) != 0 || st.st_uid != 1000 ||
        st.st_gid != 1001)
      why += "file owner; ";
    if (::lstat((mnt + "/usr/os-release").c_str(), &st) != 0 || st.st_uid != 7 || st.st_gid != 8)
      why += "symlink owner; ";
    char v[8] = {};
    if (xattr && (::lgetxattr((mnt + "/etc/os-release").c_str(), "user.nexus", v, sizeof v) != 1 ||
                  v[0] != 'v'))
      why += "user xattr; ";
    return why;
  });
  CHECK(report == "");
}

TEST_CASE("export_erofs with id_shift writes unshifted owners", "[root]") {
  TempDir tmp;
  make_tree(tmp / "tree");
  constexpr uint32_t kShift = 100000;
  // The tree as the template store keeps it: every owner shifted; one id outside the range.
  bool ok = false;
  std::string out = run({"chown", "-R", "-h", "100000:100000", tmp / "tree"}, &ok);
  REQUIRE_MESSAGE(ok, out);
  REQUIRE(::chown((tmp / "tree/private").c_str(), kShift + 1000, kShift + 1000) == 0);
  REQUIRE(::chown((tmp / "tree/empty").c_str(), 5, 5) == 0);
  REQUIRE(::chmod((tmp / "tree/usr/bin/suid").c_str(), 04755) == 0);
  ErofsOptions o;
  o.id_shift = kShift;
  auto r = export_erofs(tmp / "tree", tmp / "rootfs.erofs", o);
  REQUIRE_MESSAGE(r, (r ? "" : r.error().message()));
  CHECK(dir_names(tmp.path()) == std::vector<std::string>{"rootfs.erofs", "tree"});
  Loop loop(tmp / "rootfs.erofs", true);
  std::string mnt = tmp / "mnt";
  REQUIRE(make_dirs(mnt));
  std::string report = in_mount_namespace([&]() -> std::string {
    if (::mount(loop.dev().c_str(), mnt.c_str(), "erofs", MS_RDONLY, nullptr) != 0)
      return std::string("mount erofs: ") + std::strerror(errno);
    std::string why;
    mounted_erofs_checks(mnt, why);
    struct stat st {};
    if (::lstat((mnt + "/etc/os-release").c_str(), &st) != 0 || st.st_uid != 0 || st.st_gid != 0)
      why += "root-owned file: " + std::to_string(st.st_uid) + "; ";
    if (::lstat((mnt + "/private").c_str(), &st) != 0 || st.st_uid != 1000 || st.st_gid != 1000)
      why += "user-owned dir: " + std::to_string(st.st_uid) + "; ";
    if (::lstat((mnt + "/empty").c_str(), &st) != 0 || st.st_uid != 65534)
      why += "unmapped owner: " + std::to_string(st.st_uid) + "; ";
    return why;
  });
  CHECK(report == "");
  // The host's tree is untouched and nothing stays mounted on it.
  CHECK(lstat_of(tmp / "tree/etc/os-release").st_uid == kShift);
}

TEST_CASE("a pool disk mounts as ext4 and keeps what is written", "[root]") {
  TempDir tmp;
  DiskPool pool(tmp / "pool", 64ull << 20, 1);
  auto disk = pool.take(tmp / "rw.ext4");
  REQUIRE(disk);
  Loop loop(*disk, false);
  std::string mnt = tmp / "mnt";
  REQUIRE(make_dirs(mnt));
  std::string report = in_mount_namespace([&]() -> std::string {
    if (::mount(loop.dev().c_str(), mnt.c_str(), "ext4", 0, "noinit_itable") != 0)
      return std::string("mount ext4: ") + std::strerror(errno);
    spit(mnt + "/hello", "world");
    return ::umount(mnt.c_str()) == 0 ? "" : std::string("umount: ") + std::strerror(errno);
  });
  REQUIRE(report == "");
  report = in_mount_namespace([&]() -> std::string {
    if (::mount(loop.dev().c_str(), mnt.c_str(), "ext4", MS_RDONLY, nullptr) != 0)
      return std::string("mount ext4: ") + std::strerror(errno);
    return slurp(mnt + "/hello") == "world" ? "" : "content lost";
  });
  CHECK(report == "");
}

int main(int argc, char** argv) {
  bool root_tests = false;
  bool has_spec = false;
  std::vector<char*> args = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--root-tests") {
      root_tests = true;
      continue;
    }
    if (argv[i][0] != '-') has_spec = true;
    args.push_back(argv[i]);
  }
  for (const char* tool : {"mkfs.erofs", "fsck.erofs", "mkfs.ext4", "e2fsck", "dumpe2fs"}) {
    if (!find_tool(tool)) {
      std::printf("SKIP: %s not installed (erofs-utils, e2fsprogs)\n", tool);
      return 77;
    }
  }
  if (root_tests) {
    if (::geteuid() != 0) {
      std::puts("SKIP: needs root (loop devices, mounts, chown)");
      return 77;
    }
    if (!find_tool("losetup") || ::access("/dev/loop-control", R_OK | W_OK) != 0) {
      std::puts("SKIP: no loop devices (losetup, /dev/loop-control)");
      return 77;
    }
  }
  static char root_spec[] = "[root]";
  static char not_root_spec[] = "~[root]";
  if (!has_spec) args.push_back(root_tests ? root_spec : not_root_spec);
  return Catch::Session().run(static_cast<int>(args.size()), args.data());
}
