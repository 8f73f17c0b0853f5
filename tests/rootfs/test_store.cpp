// SPDX-License-Identifier: Apache-2.0
// Tests for build_template (with a pre-seeded cache or a fake mmdebstrap) and the store.
#include <catch.hpp>

#include <dirent.h>
#include <sys/stat.h>

#include "rootfs/template_builder.hpp"
#include "tar_writer.hpp"
#include "test_util.hpp"

using namespace nexus;
using namespace nexus::rootfs;
using namespace nexus::rootfs::test;

namespace {

TemplateDef small_def(const std::string& name = "tiny") {
  TemplateDef d;
  d.name = name;
  d.description = "test template";
  d.base.packages = {"bash"};
  return d;
}

BuildOptions options(const TempDir& tmp) {
  BuildOptions o;
  o.cache_dir = tmp / "cache";
  o.apply_ownership = is_root();
  o.mmdebstrap = "/bin/false";  // any attempt to bootstrap fails
  return o;
}

void write_image(const std::string& tar, const std::string& marker) {
  TarWriter w(tar);
  w.dir("./", 0755);
  w.dir("./etc/", 0755);
  w.file("./etc/marker", marker);
  w.dir("./home/", 0755);
  w.dir("./home/user/", 0755, 1000, 1000);
  w.close();
}

// Puts an image where build_template will look for `def`'s cached base.
void seed_cache(const BuildOptions& o, const TemplateDef& def, const std::string& marker) {
  REQUIRE(make_dirs(o.cache_dir));
  write_image(cached_base_path(o.cache_dir, def.base), marker);
}

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (std::string_view(e->d_name) != "." && std::string_view(e->d_name) != "..")
        out.emplace_back(e->d_name);
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("build, read, list and remove a template from a cached base", "[rootfs]") {
  TempDir tmp;
  auto opt = options(tmp);
  std::string templates = tmp / "templates";
  auto def = small_def();
  seed_cache(opt, def, "v1");

  std::vector<std::string> log;
  auto built = build_template(def, templates, opt, [&](std::string_view l) { log.emplace_back(l); });
  REQUIRE(built);
  CHECK(built->name == "tiny");
  CHECK(built->rootfs_path == templates + "/tiny/rootfs");
  CHECK(built->cache_key == cache_key(def.base));
  CHECK(built->size_bytes == 2);
  CHECK(slurp(built->rootfs_path + "/etc/marker") == "v1");
  CHECK_FALSE(log.empty());
  CHECK(entries(templates) == std::vector<std::string>{".tiny@lock", "tiny"});
  CHECK(entries(templates + "/tiny") == std::vector<std::string>{"rootfs", "template.json"});
  CHECK((lstat_of(templates + "/tiny").st_mode & 0777) == 0755);
  if (is_root()) {
    CHECK(lstat_of(built->rootfs_path).st_uid == 100000);
    CHECK(lstat_of(built->rootfs_path + "/home/user").st_uid == 101000);
    CHECK(built->uid_base == 100000);
    CHECK(built->uid_count == 65536);
  } else {
    WARN("not root: skipping ownership assertions");
  }

  auto read = read_template(templates, "tiny");
  REQUIRE(read);
  CHECK(read->description == "test template");
  CHECK(read->base.packages == def.base.packages);
  CHECK(read->built_at == built->built_at);
  CHECK(read->size_bytes == 2);
  CHECK(read->rootfs_path == built->rootfs_path);

  auto list = list_templates(templates);
  REQUIRE(list);
  REQUIRE(list->size() == 1);
  CHECK((*list)[0].name == "tiny");

  REQUIRE(remove_template(templates, "tiny"));
  CHECK_FALSE(exists(templates + "/tiny"));
  auto gone = read_template(templates, "tiny");
  REQUIRE_FALSE(gone);
  CHECK(gone.error().is(Errc::not_found));
  auto again = remove_template(templates, "tiny");
  REQUIRE_FALSE(again);
  CHECK(again.error().is(Errc::not_found));
  CHECK(list_templates(templates)->empty());
}

TEST_CASE("a failed rebuild leaves the old template intact; a good one replaces it",
          "[rootfs]") {
  TempDir tmp;
  auto opt = options(tmp);
  std::string templates = tmp / "templates";
  auto def = small_def();
  seed_cache(opt, def, "v1");
  auto v1 = build_template(def, templates, opt, {});
  REQUIRE(v1);
  std::string json_before = slurp(templates + "/tiny/template.json");

  // A corrupt cached base makes the extraction fail half-way.
  spit(cached_base_path(opt.cache_dir, def.base), std::string(1024, 'x'));
  auto broken = build_template(def, templates, opt, {});
  REQUIRE_FALSE(broken);
  CHECK(broken.error().message().find("delete it to bootstrap again") != std::string::npos);
  CHECK(slurp(templates + "/tiny/rootfs/etc/marker") == "v1");
  CHECK(slurp(templates + "/tiny/template.json") == json_before);
  CHECK(entries(templates) == std::vector<std::string>{".tiny@lock", "tiny"});

  // A failing bootstrap (different base, no cache, mmdebstrap = /bin/false) likewise.
  auto def2 = def;
  def2.base.packages.push_back("git");
  auto failed = build_template(def2, templates, opt, {});
  REQUIRE_FALSE(failed);
  CHECK(failed.error().message().find("exited with status 1") != std::string::npos);
  CHECK(slurp(templates + "/tiny/rootfs/etc/marker") == "v1");
  CHECK(entries(opt.cache_dir).size() == 1);  // no temporary left in the cache

  write_image(cached_base_path(opt.cache_dir, def.base), "v2");
  auto v2 = build_template(def, templates, opt, {});
  REQUIRE(v2);
  CHECK(slurp(templates + "/tiny/rootfs/etc/marker") == "v2");
  CHECK(entries(templates) == std::vector<std::string>{".tiny@lock", "tiny"});
}

TEST_CASE("a cache miss runs mmdebstrap and caches its tarball", "[rootfs]") {
  TempDir tmp;
  auto opt = options(tmp);
  std::string image = tmp / "image.tar";
  write_image(image, "fresh");
  // A stand-in for mmdebstrap: copies the image to its second-to-last argument.
  std::string fake = tmp / "fake-mmdebstrap";
  spit(fake, "#!/bin/sh\necho \"I: fake mmdebstrap $*\"\n"
             "for a; do out=$prev; prev=$a; done\ncp '" + image + "' \"$out\"\n");
  REQUIRE(chmod(fake.c_str(), 0755) == 0);
  opt.mmdebstrap = fake;

  auto def = small_def("fresh");
  std::vector<std::string> log;
  auto built = build_template(def, tmp / "templates", opt, [&](std::string_view l) { log.emplace_back(l); });
  REQUIRE(built);
  CHECK(slurp(built->rootfs_path + "/etc/marker") == "fresh");
  CHECK(exists(cached_base_path(opt.cache_dir, def.base)));
  CHECK(entries(opt.cache_dir).size() == 1);
  CHECK(std::any_of(log.begin(), log.end(), [](const std::string& l) {
    return l.find("I: fake mmdebstrap") != std::string::npos &&
           l.find("--include=bash") != std::string::npos;
  }));

  // The second build uses the cache: the fake would now fail.
  spit(fake, "#!/bin/sh\nexit 9\n");
  REQUIRE(build_template(def, tmp / "templates", opt, {}));
}

TEST_CASE("bad names are refused everywhere", "[rootfs]") {
  TempDir tmp;
  auto opt = options(tmp);
  for (const char* bad : {"../x", "/abs", "A", ""}) {
    INFO(bad);
    auto def = small_def(bad);
    auto b = build_template(def, tmp / "templates", opt, {});
    REQUIRE_FALSE(b);
    CHECK(b.error().is(Errc::invalid_argument));
    CHECK(read_template(tmp / "templates", bad).error().is(Errc::invalid_argument));
    CHECK(remove_template(tmp / "templates", bad).error().is(Errc::invalid_argument));
  }
  CHECK(entries(tmp.path()).empty());
  auto missing = read_template(tmp / "templates", "never-built");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().is(Errc::not_found));
  CHECK(list_templates(tmp / "nonexistent")->empty());
}

TEST_CASE("ownership needs root", "[rootfs]") {
  if (is_root()) return;
  TempDir tmp;
  auto opt = options(tmp);
  opt.apply_ownership = true;
  auto b = build_template(small_def(), tmp / "templates", opt, {});
  REQUIRE_FALSE(b);
  CHECK(b.error().is(Errc::permission_denied));
}
