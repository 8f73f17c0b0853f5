// SPDX-License-Identifier: Apache-2.0
// The file-tree steps of a Nexusfile build: merging a build sandbox's overlay upper dir into
// the tree (whiteouts, opaque dirs, metadata), COPY from the context (globs, owners, links
// never followed, nothing outside the tree), and owner lookups. Whiteouts and trusted.*
// xattrs need root: those sections skip themselves without it, and say so.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "daemon/build_tree.hpp"
#include "tests/daemon/temp_dir.hpp"

namespace fs = std::filesystem;
using namespace nexus::daemon::build;

namespace {

void write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool is_root() { return ::geteuid() == 0; }

void whiteout(const std::string& path) { REQUIRE(::mknod(path.c_str(), S_IFCHR | 0, ::makedev(0, 0)) == 0); }

void opaque(const std::string& dir) { REQUIRE(::setxattr(dir.c_str(), "trusted.overlay.opaque", "y", 1, 0) == 0); }

}  // namespace

TEST_CASE("merge_upper: new, changed and removed entries, opaque dirs", "[daemon][build_tree]") {
  if (!is_root()) {
    WARN("SKIP: whiteouts (mknod 0:0) and trusted.overlay xattrs need root");
    return;
  }
  TempDir t;
  std::string tree = t.path + "/tree", upper = t.path + "/upper";
  write(tree + "/etc/keep", "keep");
  write(tree + "/etc/changed", "old");
  write(tree + "/old/gone.txt", "gone");
  write(tree + "/old/sub/x", "x");
  write(tree + "/cache/a", "a");
  write(tree + "/cache/b", "b");
  fs::create_directories(upper + "/etc");
  write(upper + "/etc/changed", "new");
  write(upper + "/etc/added", "added");
  fs::create_directories(upper + "/old");
  whiteout(upper + "/old/gone.txt");
  fs::create_directories(upper + "/cache");
  write(upper + "/cache/c", "c");
  opaque(upper + "/cache");
  REQUIRE(::chmod((upper + "/etc").c_str(), 0750) == 0);
  REQUIRE(::setxattr((upper + "/etc/added").c_str(), "user.note", "kept", 4, 0) == 0);

  auto stats = merge_upper(upper, tree);
  REQUIRE(stats);
  CHECK(read(tree + "/etc/keep") == "keep");
  CHECK(read(tree + "/etc/changed") == "new");
  CHECK(read(tree + "/etc/added") == "added");
  char note[8] = {};
  CHECK(::getxattr((tree + "/etc/added").c_str(), "user.note", note, sizeof note) == 4);
  CHECK(std::string(note) == "kept");
  CHECK((fs::status(tree + "/etc").permissions() & fs::perms::all) == static_cast<fs::perms>(0750));
  CHECK_FALSE(fs::exists(tree + "/old/gone.txt"));
  CHECK(fs::exists(tree + "/old/sub/x"));  // a whiteout removes only its own entry
  CHECK(fs::exists(tree + "/cache/c"));
  CHECK_FALSE(fs::exists(tree + "/cache/a"));  // the opaque dir replaced the old one whole
  CHECK_FALSE(fs::exists(tree + "/cache/b"));
  char buf[4];
  CHECK(::getxattr((tree + "/cache").c_str(), "trusted.overlay.opaque", buf, sizeof buf) < 0);  // not carried over
  CHECK(stats->whiteouts == 1);
  CHECK(stats->opaque == 1);
  CHECK(fs::is_empty(upper));
}

TEST_CASE("merge_upper: a whiteout over a directory, a file over a directory", "[daemon][build_tree]") {
  if (!is_root()) {
    WARN("SKIP: whiteouts need root");
    return;
  }
  TempDir t;
  std::string tree = t.path + "/tree", upper = t.path + "/upper";
  write(tree + "/dir/deep/file", "x");
  write(tree + "/was_dir/inner", "y");
  fs::create_directories(upper);
  whiteout(upper + "/dir");
  write(upper + "/was_dir", "now a file");
  REQUIRE(merge_upper(upper, tree));
  CHECK_FALSE(fs::exists(tree + "/dir"));
  CHECK(fs::is_regular_file(tree + "/was_dir"));
  CHECK(read(tree + "/was_dir") == "now a file");
}

TEST_CASE("merge_upper: redirect_dir and metacopy are refused", "[daemon][build_tree]") {
  if (!is_root()) {
    WARN("SKIP: trusted.overlay xattrs need root");
    return;
  }
  TempDir t;
  std::string tree = t.path + "/tree", upper = t.path + "/upper";
  fs::create_directories(tree);
  fs::create_directories(upper + "/moved");
  REQUIRE(::setxattr((upper + "/moved").c_str(), "trusted.overlay.redirect", "/elsewhere", 10, 0) == 0);
  auto r = merge_upper(upper, tree);
  REQUIRE_FALSE(r);
  CHECK(r.error().is(nexus::Errc::invalid_argument));
  CHECK(r.error().message().find("moved") != std::string::npos);
}

TEST_CASE("merge_upper: a symlink in the upper dir is moved as a link", "[daemon][build_tree]") {
  TempDir t;
  std::string tree = t.path + "/tree", upper = t.path + "/upper", outside = t.path + "/outside";
  fs::create_directories(tree + "/etc");
  fs::create_directories(outside);
  fs::create_directories(upper + "/etc");
  fs::create_directory_symlink(outside, upper + "/etc/link");
  REQUIRE(merge_upper(upper, tree));
  CHECK(fs::is_symlink(tree + "/etc/link"));
  CHECK(fs::read_symlink(tree + "/etc/link") == outside);
  CHECK(fs::is_empty(outside));  // nothing was written through it
}

TEST_CASE("copy_into: dirs, files, globs, links not followed, parents made", "[daemon][build_tree]") {
  TempDir t;
  std::string ctx = t.path + "/ctx", tree = t.path + "/tree";
  write(ctx + "/app/main.py", "print(1)");
  write(ctx + "/app/lib/util.py", "x = 1");
  write(ctx + "/a.txt", "a");
  write(ctx + "/b.txt", "bb");
  write(ctx + "/c.md", "c");
  fs::create_symlink("/etc/shadow", ctx + "/app/escape");
  fs::create_directories(tree);
  uint32_t me = ::geteuid(), gid = ::getegid();
  CopyOwner owner{me, gid, me};

  auto dir = copy_into(ctx, {"app"}, "/srv/app/", tree, owner);
  REQUIRE(dir);
  CHECK(read(tree + "/srv/app/main.py") == "print(1)");  // a directory copies its contents
  CHECK(read(tree + "/srv/app/lib/util.py") == "x = 1");
  CHECK(fs::is_symlink(tree + "/srv/app/escape"));
  CHECK(fs::read_symlink(tree + "/srv/app/escape") == "/etc/shadow");
  CHECK(dir->symlinks == 1);
  CHECK(dir->files == 2);

  auto glob = copy_into(ctx, {"*.txt"}, "/data/", tree, owner);
  REQUIRE(glob);
  CHECK(glob->files == 2);
  CHECK(read(tree + "/data/b.txt") == "bb");
  CHECK_FALSE(fs::exists(tree + "/data/c.md"));

  REQUIRE(copy_into(ctx, {"c.md"}, "/renamed.md", tree, owner));  // a file to a file name
  CHECK(read(tree + "/renamed.md") == "c");

  auto none = copy_into(ctx, {"*.nothing"}, "/x/", tree, owner);
  REQUIRE_FALSE(none);
  CHECK(none.error().is(nexus::Errc::not_found));
}

TEST_CASE("copy_into: a symlink in the tree cannot lead the copy outside it", "[daemon][build_tree]") {
  TempDir t;
  std::string ctx = t.path + "/ctx", tree = t.path + "/tree", outside = t.path + "/outside";
  write(ctx + "/payload", "evil");
  fs::create_directories(tree);
  fs::create_directories(outside);
  fs::create_directory_symlink(outside, tree + "/srv");  // absolute, pointing out of the tree
  uint32_t me = ::geteuid(), gid = ::getegid();
  auto r = copy_into(ctx, {"payload"}, "/srv/payload", tree, CopyOwner{me, gid, me});
  CHECK(fs::is_empty(outside));
  // Resolved in the tree's root, /srv names <tree>/<outside path>, which does not exist: refused.
  REQUIRE_FALSE(r);
  CHECK(r.error().message().find("'/srv'") != std::string::npos);
  fs::create_directories(tree + outside);  // once it exists in the tree, the copy lands there
  REQUIRE(copy_into(ctx, {"payload"}, "/srv/payload", tree, CopyOwner{me, gid, me}));
  CHECK(read(tree + outside + "/payload") == "evil");
  CHECK(fs::is_empty(outside));
}

TEST_CASE("resolve_owner: names and ids from the tree's passwd and group", "[daemon][build_tree]") {
  TempDir t;
  std::string tree = t.path + "/tree";
  write(tree + "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n");
  write(tree + "/etc/group", "root:x:0:\nstaff:x:50:\napp:x:1001:\n");
  auto a = resolve_owner(tree, "app");
  REQUIRE(a);
  CHECK(a->uid == 1000);
  CHECK(a->gid == 1001);  // the user's primary group
  auto b = resolve_owner(tree, "app:staff");
  REQUIRE(b);
  CHECK(b->gid == 50);
  auto c = resolve_owner(tree, "4242:4343");
  REQUIRE(c);
  CHECK(c->uid == 4242);
  CHECK(c->gid == 4343);
  auto bad = resolve_owner(tree, "nobody-here");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().is(nexus::Errc::invalid_argument));
  CHECK(bad.error().message().find("nobody-here") != std::string::npos);
}
