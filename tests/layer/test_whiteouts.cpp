// SPDX-License-Identifier: Apache-2.0
// Whiteouts and opaque directories: they hide lower layers' entries, never the layer's own.
#include "fixture.hpp"

using namespace nexus;
using namespace nexus::rootfs::layer;
using namespace nexus::rootfs::layer::test;

namespace {

bool has_whiteout_name(const std::vector<std::string>& paths) {
  for (const auto& p : paths)
    if (p.find(".wh.") != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("a whiteout removes a lower file or a whole lower tree and is never created",
          "[layer][whiteout]") {
  Sandbox sb;
  sb.layer("base")
      .file("etc/a", "a")
      .file("etc/b", "b")
      .file("var/lib/x/y/z", "deep")
      .symlink("var/lib/x/link", "/etc/a");
  sb.layer("rm")
      .file("etc/.wh.a", "")
      .file("var/lib/.wh.x", "")
      .file(".wh.never-existed", "")
      .file("nowhere/.wh.thing", "");
  auto r = sb.apply();
  REQUIRE(r);
  CHECK(tree(sb.root()) ==
        std::vector<std::string>{"etc", "etc/b", "var", "var/lib"});
  CHECK(r->layers[1].whiteouts == 4);
  CHECK(r->layers[1].files == 0);
  CHECK_FALSE(has_whiteout_name(tree(sb.root())));
  sb.check_sentinel();
}

TEST_CASE("an opaque directory hides lower entries but keeps its layer's, in any order",
          "[layer][whiteout]") {
  for (bool marker_last : {false, true}) {
    Sandbox sb;
    sb.layer("base")
        .file("a/b/c/bar", "bar")
        .file("a/sibling", "s")
        .file("a/b/other", "o")
        .file("keep/me", "k");
    auto& upper = sb.layer("opaque");
    if (!marker_last) upper.dir("a/").file("a/.wh..wh..opq", "");
    upper.dir("a/").dir("a/b/").dir("a/b/c/").file("a/b/c/foo", "foo");
    if (marker_last) upper.file("a/.wh..wh..opq", "");
    auto r = sb.apply();
    REQUIRE(r);
    INFO("marker last: " << marker_last);
    CHECK(tree(sb.root()) == std::vector<std::string>{"a", "a/b", "a/b/c", "a/b/c/foo", "keep",
                                                       "keep/me"});
    CHECK(r->layers[1].opaque_dirs == 1);
  }
}

TEST_CASE("an opaque directory keeps a lower directory this layer only wrote into",
          "[layer][whiteout]") {
  Sandbox sb;
  sb.layer("base").file("d/sub/old", "old");
  sb.layer("upper").file("d/sub/new", "new").file("d/.wh..wh..opq", "");
  REQUIRE(sb.apply());
  CHECK(tree(sb.root()) == std::vector<std::string>{"d", "d/sub", "d/sub/new"});
}

TEST_CASE("a whiteout does not hide its own layer's entry", "[layer][whiteout]") {
  Sandbox sb;
  sb.layer("base").file("x", "old").file("d/old", "old");
  sb.layer("upper")
      .file("x", "new")
      .file(".wh.x", "")
      .file("d/new", "new")
      .file(".wh.d", "");
  REQUIRE(sb.apply());
  CHECK(slurp(sb.in_root("x")) == "new");
  CHECK(tree(sb.root()) == std::vector<std::string>{"d", "d/new", "x"});
}

TEST_CASE("a whiteout then an entry of the same name recreates it", "[layer][whiteout]") {
  Sandbox sb;
  sb.layer("base").file("etc/conf/a", "a").file("etc/conf/b", "b");
  sb.layer("upper").file("etc/.wh.conf", "").file("etc/conf", "now a file");
  REQUIRE(sb.apply());
  CHECK(S_ISREG(lstat_of(sb.in_root("etc/conf")).st_mode));
  CHECK(slurp(sb.in_root("etc/conf")) == "now a file");
}

TEST_CASE("an opaque root hides every lower entry", "[layer][whiteout]") {
  Sandbox sb;
  sb.layer("base").file("usr/bin/sh", "sh").file("etc/passwd", "root");
  sb.layer("upper").file("new", "n").file(".wh..wh..opq", "");
  REQUIRE(sb.apply());
  CHECK(tree(sb.root()) == std::vector<std::string>{"new"});
}

TEST_CASE("whiteouts that name no entry, and aufs metadata", "[layer][whiteout]") {
  SECTION("'.wh.' alone is refused") {
    Sandbox sb;
    sb.layer("base").file("a/x", "x");
    sb.layer("bad").file("a/.wh.", "");
    require_error(sb.apply(), {"layer 2/2 (sha256:bad)", "'a/.wh.'", "names no entry"});
    CHECK(exists(sb.in_root("a/x")));
  }
  SECTION("'.wh...' (the parent) is refused") {
    Sandbox sb;
    sb.layer("bad").file("a/.wh...", "");
    require_error(sb.apply(), {"'a/.wh...'", "names no entry"});
  }
  SECTION("'.wh..wh.plnk' is aufs bookkeeping and left out") {
    Sandbox sb;
    sb.layer("aufs").dir(".wh..wh.plnk/").file(".wh..wh.aufs", "").file("real", "r");
    auto r = sb.apply();
    REQUIRE(r);
    CHECK(tree(sb.root()) == std::vector<std::string>{"real"});
  }
}
