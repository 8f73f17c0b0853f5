// SPDX-License-Identifier: Apache-2.0
// Hardlinks (within a layer and to earlier layers) and symlinks (kept as-is, replaced).
#include <unistd.h>

#include "fixture.hpp"

using namespace nexus;
using namespace nexus::rootfs::layer;
using namespace nexus::rootfs::layer::test;

namespace {

std::string readlink_of(const std::string& path) {
  char buf[4096];
  ssize_t n = readlink(path.c_str(), buf, sizeof buf);
  REQUIRE(n >= 0);
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace

TEST_CASE("hardlinks within a layer and to files of earlier layers", "[layer][links]") {
  Sandbox sb;
  sb.layer("base", Codec::zstd)
      .file("usr/bin/python3", "py", Attrs{.mode = 0755, .uid = 7})
      .hardlink("usr/bin/python3.11", "usr/bin/python3");
  sb.layer("upper")
      .hardlink("usr/local/bin/py", "/usr/bin/python3")  // absolute: relative to the root
      .hardlink("./again", "./usr/bin/python3.11");
  auto r = sb.apply();
  REQUIRE(r);
  CHECK(r->total.hardlinks == 3);
  CHECK(r->total.files == 1);
  CHECK(r->total.bytes == 2);
  auto a = lstat_of(sb.in_root("usr/bin/python3"));
  CHECK(a.st_nlink == 4);
  for (const char* p : {"usr/bin/python3.11", "usr/local/bin/py", "again"}) {
    auto b = lstat_of(sb.in_root(p));
    CHECK(b.st_ino == a.st_ino);
    CHECK(b.st_uid == 7);
  }
}

TEST_CASE("a hardlink to a missing target or a directory fails naming both", "[layer][links]") {
  SECTION("missing") {
    Sandbox sb;
    sb.layer("base").file("a", "a").file(".wh.a", "");  // same-layer whiteout: a stays
    sb.layer("gone").file(".wh.a", "");
    sb.layer("link").hardlink("b", "a");
    require_error(sb.apply(), {"layer 3/3 (sha256:link)", "'b'", "hardlink target 'a'",
                               "does not exist"});
  }
  SECTION("directory") {
    Sandbox sb;
    sb.layer("link").dir("d/").hardlink("e", "d");
    require_error(sb.apply(), {"'e'", "hardlink target 'd' is a directory"});
  }
}

TEST_CASE("symlinks are created as they are: relative, absolute, dangling", "[layer][links]") {
  Sandbox sb;
  sb.layer("links")
      .dir("usr/bin/")
      .symlink("bin", "usr/bin")
      .symlink("etc/mtab", "/proc/self/mounts")
      .symlink("dangling", "../../../nowhere");
  auto r = sb.apply();
  REQUIRE(r);
  CHECK(r->total.symlinks == 3);
  CHECK(readlink_of(sb.in_root("bin")) == "usr/bin");
  CHECK(readlink_of(sb.in_root("etc/mtab")) == "/proc/self/mounts");
  CHECK(readlink_of(sb.in_root("dangling")) == "../../../nowhere");
  CHECK(lstat_of(sb.in_root("bin")).st_mtim.tv_sec == 1700000000);
}

TEST_CASE("a later layer replaces a symlink with a directory or a file, not its target",
          "[layer][links]") {
  Sandbox sb;
  sb.layer("base")
      .file("real/f", "orig", Attrs{.mode = 0644, .mtime = 1500000000})
      .symlink("link", "real")
      .symlink("flink", "real/f");
  sb.layer("upper")
      .dir("link/", Attrs{.mode = 0700, .uid = 5, .mtime = 1600000000})
      .file("link/new", "new")
      .file("flink", "replaced", Attrs{.mode = 0600, .uid = 6});
  auto r = sb.apply();
  REQUIRE(r);
  auto link = lstat_of(sb.in_root("link"));
  CHECK(S_ISDIR(link.st_mode));
  CHECK((link.st_mode & 07777) == 0700);
  CHECK(link.st_uid == 5);
  CHECK(tree(sb.in_root("real")) == std::vector<std::string>{"f"});
  CHECK(slurp(sb.in_root("real/f")) == "orig");
  auto f = lstat_of(sb.in_root("real/f"));
  CHECK(f.st_uid == 0);
  CHECK((f.st_mode & 07777) == 0644);
  CHECK(f.st_mtim.tv_sec == 1500000000);
  CHECK(S_ISREG(lstat_of(sb.in_root("flink")).st_mode));
  CHECK(slurp(sb.in_root("flink")) == "replaced");
}
