// SPDX-License-Identifier: Apache-2.0
// Tests for tar extraction: id shift, setuid, links, devices, xattrs, hostile paths.
#include <catch.hpp>

#include <sys/xattr.h>

#include "rootfs/extract.hpp"
#include "rootfs/subprocess.hpp"
#include "tar_writer.hpp"
#include "test_util.hpp"

using namespace nexus;
using namespace nexus::rootfs;
using namespace nexus::rootfs::test;

namespace {

ExtractOptions options() {
  ExtractOptions o;
  o.apply_ownership = is_root();
  return o;
}

// Makes <tmp>/root (the destination) and returns the result of extracting `tar` there.
Result<ExtractStats> extract_into(const TempDir& tmp, const std::string& tar) {
  std::string root = tmp / "root";
  REQUIRE(make_dirs(root));
  return extract_tar(tar, root, options(), {});
}

}  // namespace

TEST_CASE("extraction shifts owners and keeps modes, links and xattrs", "[rootfs]") {
  TempDir tmp;
  std::string tar = tmp / "img.tar";
  {
    TarWriter w(tar);
    w.dir("./", 0755);
    w.dir("./usr/", 0755);
    w.dir("./usr/bin/", 0755);
    w.file("./usr/bin/su", "#!/bin/sh\n", 04755);
    w.file("./usr/bin/wall", "w", 02755, 0, 5);
    w.hardlink("./usr/bin/su2", "./usr/bin/su");
    w.symlink("./bin", "usr/bin");
    w.symlink("./usr/bin/python", "/usr/bin/python3");  // absolute targets stay as they are
    w.dir("./home/", 0755);
    w.dir("./home/user/", 0700, 1000, 1000);
    w.file("./home/user/.bashrc", "PS1=x\n", 0644, 1000, 1000);
    w.dir("./tmp/", 01777);
    w.file("/etc/abs", "absolute\n");  // neutralised: lands at <root>/etc/abs
    w.char_device("./dev/null");
    w.file("./usr/bin/ping", "p", 0755, 0, 0, "security.capability");
    w.file("./usr/bin/tagged", "t", 0644, 0, 0, "user.nexus-test");
    w.close();
  }
  auto stats = extract_into(tmp, tar);
  REQUIRE(stats);
  std::string root = tmp / "root";
  CHECK(stats->skipped_devices == 1);
  CHECK(stats->dropped_xattrs == 1);
  CHECK(stats->bytes == 10 + 1 + 6 + 9 + 1 + 1);

  CHECK(slurp(root + "/usr/bin/su") == "#!/bin/sh\n");
  CHECK(slurp(root + "/etc/abs") == "absolute\n");
  CHECK_FALSE((exists("/etc/abs") && slurp("/etc/abs") == "absolute\n"));
  CHECK_FALSE(exists(root + "/dev/null"));

  auto su = lstat_of(root + "/usr/bin/su");
  auto su2 = lstat_of(root + "/usr/bin/su2");
  CHECK(su.st_ino == su2.st_ino);
  CHECK(su.st_nlink == 2);
  CHECK(S_ISLNK(lstat_of(root + "/bin").st_mode));
  char target[256] = {};
  REQUIRE(readlink((root + "/usr/bin/python").c_str(), target, sizeof target - 1) > 0);
  CHECK(std::string(target) == "/usr/bin/python3");
  CHECK((lstat_of(root + "/tmp").st_mode & 07777) == 01777);
  CHECK((lstat_of(root + "/home/user").st_mode & 07777) == 0700);
  CHECK(lstat_of(root + "/usr/bin/su").st_mtime == 1700000000);
  CHECK(getxattr((root + "/usr/bin/ping").c_str(), "security.capability", nullptr, 0) < 0);
  char v[8] = {};
  if (getxattr((root + "/usr/bin/tagged").c_str(), "user.nexus-test", v, sizeof v) < 0) {
    WARN("filesystem of /tmp has no user xattrs; xattr preservation not checked");
  } else {
    CHECK(std::string(v) == "v");
  }

  if (!is_root()) {
    WARN("not root: skipping the owner and setuid/setgid assertions (they need chown)");
    return;
  }
  CHECK(lstat_of(root).st_uid == 100000);
  CHECK(su.st_uid == 100000);
  CHECK(su.st_gid == 100000);
  CHECK((su.st_mode & 07777) == 04755);  // setuid survives the chown
  auto wall = lstat_of(root + "/usr/bin/wall");
  CHECK(wall.st_gid == 100005);
  CHECK((wall.st_mode & 07777) == 02755);
  CHECK(lstat_of(root + "/bin").st_uid == 100000);  // symlinks are lchown'd
  auto home = lstat_of(root + "/home/user");
  CHECK(home.st_uid == 101000);
  CHECK(home.st_gid == 101000);
  CHECK(lstat_of(root + "/home/user/.bashrc").st_uid == 101000);
}

TEST_CASE("extraction refuses paths that leave the root", "[rootfs]") {
  TempDir tmp;
  std::string tar = tmp / "evil.tar";
  SECTION("dot-dot entry") {
    {
      TarWriter w(tar);
      w.file("ok", "fine");
      w.file("../escape", "pwned");
      w.close();
    }
    auto r = extract_into(tmp, tar);
    REQUIRE_FALSE(r);
    CHECK(r.error().is(Errc::invalid_argument));
    CHECK(r.error().message().find("../escape") != std::string::npos);
    CHECK_FALSE(exists(tmp / "escape"));
  }
  SECTION("dot-dot deeper in the path") {
    {
      TarWriter w(tar);
      w.file("a/../../escape", "pwned");
      w.close();
    }
    REQUIRE_FALSE(extract_into(tmp, tar));
    CHECK_FALSE(exists(tmp / "escape"));
  }
  SECTION("hardlink to outside") {
    spit(tmp / "secret", "secret");
    {
      TarWriter w(tar);
      w.hardlink("stolen", "../secret");
      w.close();
    }
    REQUIRE_FALSE(extract_into(tmp, tar));
    CHECK_FALSE(exists(tmp / "root/stolen"));
  }
  SECTION("writing through a symlink") {
    REQUIRE(make_dirs(tmp / "outside"));
    {
      TarWriter w(tar);
      w.symlink("link", tmp / "outside");
      w.file("link/planted", "pwned");
      w.close();
    }
    REQUIRE_FALSE(extract_into(tmp, tar));
    CHECK_FALSE(exists(tmp / "outside/planted"));
  }
  SECTION("relative symlink then a write through it") {
    REQUIRE(make_dirs(tmp / "outside"));
    {
      TarWriter w(tar);
      w.symlink("up", "..");
      w.file("up/outside/planted", "pwned");
      w.close();
    }
    REQUIRE_FALSE(extract_into(tmp, tar));
    CHECK_FALSE(exists(tmp / "outside/planted"));
  }
  SECTION("owner outside the mapped range") {
    {
      TarWriter w(tar);
      w.file("big", "x", 0644, 70000, 0);
      w.close();
    }
    auto r = extract_into(tmp, tar);
    REQUIRE_FALSE(r);
    CHECK(r.error().message().find("outside the mapped range") != std::string::npos);
  }
  SECTION("not a tar") {
    spit(tar, std::string(2000, 'z'));
    REQUIRE_FALSE(extract_into(tmp, tar));
  }
}

TEST_CASE("run_command forwards lines and reports failures", "[rootfs]") {
  std::vector<std::string> lines;
  auto collect = [&](std::string_view l) { lines.emplace_back(l); };
  REQUIRE(run_command({"sh", "-c", "echo one; echo two >&2; printf three"}, collect));
  CHECK(lines == std::vector<std::string>{"one", "two", "three"});

  lines.clear();
  auto r = run_command({"sh", "-c", "echo working; echo 'E: no such package' >&2; exit 3"}, collect);
  REQUIRE_FALSE(r);
  CHECK(r.error().message().find("status 3") != std::string::npos);
  CHECK(r.error().message().find("E: no such package") != std::string::npos);

  lines.clear();
  ::setenv("NEXUS_TEST_KEEP", "kept", 1);
  REQUIRE(run_command({"sh", "-c", "echo $NEXUS_TEST_KEEP $NEXUS_TEST_NEW $HOME"}, collect,
                      {"NEXUS_TEST_NEW=new", "HOME=/overridden"}));
  CHECK(lines == std::vector<std::string>{"kept new /overridden"});

  auto missing = run_command({"/nonexistent/program"}, {});
  REQUIRE_FALSE(missing);
  CHECK(missing.error().errno_value() == ENOENT);
}
