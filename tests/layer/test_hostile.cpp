// SPDX-License-Identifier: Apache-2.0
// Hostile layers: escaping paths, writes through symlinks and hardlinks, type flips. Each
// checks the error (layer and path named) and that the sentinel beside the root is intact.
#include "fixture.hpp"

using namespace nexus;
using namespace nexus::rootfs::layer;
using namespace nexus::rootfs::layer::test;

namespace {

std::string with_sentinel(const Sandbox& sb, std::string s) {
  if (size_t at = s.find("@S"); at != std::string::npos) s.replace(at, 2, sb.sentinel());
  return s;
}

}  // namespace

TEST_CASE("'..' components are refused before anything is written", "[layer][hostile]") {
  for (std::string path : {"../sentinel/pwned", "a/../../sentinel/pwned", "ok/..", "a/b/../c"}) {
    Sandbox sb;
    sb.layer("good").file("first", "1");
    sb.layer("evil").file(path, "pwned");
    auto r = sb.apply();
    require_error(r, {"layer 2/2 (sha256:evil)", "'" + path + "'", "'..'"});
    CHECK(r.error().is(Errc::invalid_argument));
    CHECK(tree(sb.root()) == std::vector<std::string>{"first"});
    sb.check_sentinel();
  }
}

TEST_CASE("absolute paths are taken relative to the image root", "[layer][hostile]") {
  Sandbox sb;
  std::string abs_sentinel = sb.sentinel() + "/pwned";
  sb.layer("abs").file("/etc/abs", "a").file(abs_sentinel, "inside").dir("//usr//lib/");
  REQUIRE(sb.apply());
  CHECK(slurp(sb.in_root("etc/abs")) == "a");
  CHECK(slurp(sb.in_root(abs_sentinel.substr(1))) == "inside");
  CHECK(exists(sb.in_root("usr/lib")));
  sb.check_sentinel();
}

TEST_CASE("nothing is written through a symlink to '/' or out of the root", "[layer][hostile]") {
  struct Case {
    const char* target;  // of the symlink "evil"; @S is the sentinel's absolute path
    const char* entry;   // a file written afterwards
  };
  for (const Case& c : {Case{"/", "evil@S/pwned"}, Case{"@S", "evil/pwned"},
                        Case{"../sentinel", "evil/pwned"},
                        Case{"../../../../../../..", "evil/tmp/pwned"}}) {
    for (bool same_layer : {true, false}) {
      Sandbox sb;
      std::string entry = with_sentinel(sb, c.entry);
      INFO("evil -> " << c.target << ", then " << entry << ", same layer " << same_layer);
      auto& first = sb.layer("link").symlink("evil", with_sentinel(sb, c.target));
      auto& second = same_layer ? first : sb.layer("write");
      second.file(entry, "pwned");
      auto r = sb.apply();
      require_error(r, {same_layer ? "layer 1/1 (sha256:link)" : "layer 2/2 (sha256:write)",
                        "'" + entry + "'", "'evil' is a symlink"});
      sb.check_sentinel();
    }
  }
}

TEST_CASE("a file over a symlink to '/' replaces the link", "[layer][hostile]") {
  Sandbox sb;
  sb.layer("link").symlink("evil", "/");
  sb.layer("write").file("evil", "replaced");
  REQUIRE(sb.apply());
  CHECK(S_ISREG(lstat_of(sb.in_root("evil")).st_mode));
  CHECK(slurp(sb.in_root("evil")) == "replaced");
  sb.check_sentinel();
}

TEST_CASE("no directory, whiteout or opaque marker goes through a symlinked parent",
          "[layer][hostile]") {
  for (std::string entry : {"lib/sub/", "lib/.wh.file", "lib/.wh..wh..opq", "lib/x/y"}) {
    Sandbox sb;
    sb.layer("link").symlink("lib", sb.sentinel());
    auto& evil = sb.layer("evil");
    if (entry.ends_with("/"))
      evil.dir(entry);
    else
      evil.file(entry, "");
    auto r = sb.apply();
    require_error(r, {"layer 2/2 (sha256:evil)", "'" + entry + "'", "'lib' is a symlink"});
    sb.check_sentinel();
  }
}

TEST_CASE("chown, chmod and utimes replace a final symlink, never touch its target",
          "[layer][hostile]") {
  Sandbox sb;
  sb.layer("link").symlink("d", sb.sentinel()).symlink("f", sb.sentinel() + "/file");
  sb.layer("meta")
      .dir("d/", Attrs{.mode = 0700, .uid = 123, .mtime = 1000})
      .file("f", "x", Attrs{.mode = 04777, .uid = 123, .mtime = 1000});
  REQUIRE(sb.apply());
  CHECK(S_ISDIR(lstat_of(sb.in_root("d")).st_mode));
  CHECK(lstat_of(sb.in_root("d")).st_uid == 123);
  CHECK(S_ISREG(lstat_of(sb.in_root("f")).st_mode));
  sb.check_sentinel();
}

TEST_CASE("hardlinks cannot reach outside the root", "[layer][hostile]") {
  struct Case {
    const char* target;  // @S is the sentinel's absolute path
    const char* expect;
  };
  for (const Case& c : {Case{"../sentinel/file", "'..'"},
                        Case{"evil/file", "'evil' is a symlink"},
                        Case{"@S/file", "does not exist"}}) {  // absolute: inside the root
    Sandbox sb;
    std::string target = with_sentinel(sb, c.target);
    INFO("hardlink target " << target);
    sb.layer("link").symlink("evil", sb.sentinel());
    sb.layer("hard").hardlink("h", target).file("after", "a");
    require_error(sb.apply(), {"layer 2/2 (sha256:hard)", "'h'", "hardlink target", c.expect});
    CHECK_FALSE(exists(sb.in_root("h")));
    sb.check_sentinel();
  }
}

TEST_CASE("writing over a hardlink to a symlink replaces it, not the file behind it",
          "[layer][hostile]") {
  Sandbox sb;
  // A hardlink to the symlink itself is harmless: it is a second name for the link.
  sb.layer("link").symlink("s", sb.sentinel() + "/file").hardlink("h", "s");
  sb.layer("write").file("h", "pwned").dir("s/");
  auto r = sb.apply();
  REQUIRE(r);
  CHECK(slurp(sb.in_root("h")) == "pwned");
  CHECK(S_ISDIR(lstat_of(sb.in_root("s")).st_mode));
  sb.check_sentinel();
}

TEST_CASE("a file then a directory at the same path: the later entry wins", "[layer][hostile]") {
  SECTION("same layer") {
    Sandbox sb;
    sb.layer("flip")
        .file("x", "file")
        .dir("x/")
        .file("x/y", "y")
        .dir("z/")
        .file("z/inner", "i")
        .file("z", "now a file");
    auto r = sb.apply();
    REQUIRE(r);
    CHECK(S_ISDIR(lstat_of(sb.in_root("x")).st_mode));
    CHECK(slurp(sb.in_root("x/y")) == "y");
    CHECK(slurp(sb.in_root("z")) == "now a file");
    CHECK(tree(sb.root()) == std::vector<std::string>{"x", "x/y", "z"});
  }
  SECTION("across layers") {
    Sandbox sb;
    sb.layer("one").dir("p/", Attrs{.mode = 0500, .mtime = 5}).file("p/q", "q").file("f", "f");
    sb.layer("two").file("p", "file now").dir("f/", Attrs{.mode = 0711, .mtime = 7});
    REQUIRE(sb.apply());
    CHECK(S_ISREG(lstat_of(sb.in_root("p")).st_mode));
    auto f = lstat_of(sb.in_root("f"));
    CHECK(S_ISDIR(f.st_mode));
    CHECK((f.st_mode & 07777) == 0711);
    CHECK(f.st_mtim.tv_sec == 7);
  }
  SECTION("a path below a file fails") {
    Sandbox sb;
    sb.layer("one").file("a", "a");
    sb.layer("two").file("a/b", "b");
    require_error(sb.apply(), {"layer 2/2 (sha256:two)", "'a/b'", "'a'", "Not a directory"});
  }
}

TEST_CASE("paths of PATH_MAX bytes or more are refused", "[layer][hostile]") {
  Sandbox sb;
  std::string deep;
  while (deep.size() < 5000) deep += "d/";
  sb.layer("deep").file("ok/" + deep.substr(0, 4000) + "f", "fine").file(deep + "f", "too deep");
  auto r = sb.apply();
  require_error(r, {"layer 1/1 (sha256:deep)", "a path of 4096 bytes or more"});
  CHECK(exists(sb.in_root("ok/d/d")));
}
