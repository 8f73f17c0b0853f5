// SPDX-License-Identifier: Apache-2.0
// The applied tree feeds export_erofs: with erofs_options_for(), a shifted tree gives an
// image whose owners are the image's own again. Hidden tag: run by `test-layer --erofs`.
#include <unistd.h>

#include "fixture.hpp"
#include "rootfs/layer/erofs_options.hpp"
#include "rootfs/subprocess.hpp"

using namespace nexus;
using namespace nexus::rootfs::layer;
using namespace nexus::rootfs::layer::test;

TEST_CASE("a shifted tree exports to an erofs image with the image's own owners",
          "[.][erofs]") {
  Sandbox sb;
  sb.layer("base")
      .dir("home/u/", Attrs{.mode = 0750, .uid = 1000, .gid = 1000, .mtime = 1600000000})
      .file("home/u/f", "data", Attrs{.mode = 0751, .uid = 1000, .gid = 1000})
      .symlink("bin", "usr/bin")
      .file("etc/gone", "x");
  sb.layer("upper").file("etc/.wh.gone", "").file("etc/new", "n");
  ApplyOptions opt;
  opt.id_shift = IdShift{100000, 65536};
  REQUIRE(sb.apply(opt));
  REQUIRE(lstat_of(sb.in_root("home/u/f")).st_uid == 101000);

  std::string img = sb.blob_path() + ".erofs";
  auto exported = rootfs::export_erofs(sb.root(), img, erofs_options_for(opt));
  INFO((exported ? std::string() : exported.error().message()));
  REQUIRE(exported);

  std::string out = sb.blob_path();
  REQUIRE(rootfs::run_command({"fsck.erofs", "--extract=" + out, "--preserve", img}, {}));
  auto f = lstat_of(out + "/home/u/f");
  CHECK(f.st_uid == 1000);
  CHECK(f.st_gid == 1000);
  CHECK((f.st_mode & 07777) == 0751);  // (fsck.erofs --extract drops setuid bits)
  CHECK(slurp(out + "/home/u/f") == "data");
  auto d = lstat_of(out + "/home/u");
  CHECK(d.st_uid == 1000);
  CHECK(d.st_mtim.tv_sec == 1600000000);
  CHECK(lstat_of(out + "/etc").st_uid == 0);
  CHECK(S_ISLNK(lstat_of(out + "/bin").st_mode));
  CHECK(tree(out + "/etc") == std::vector<std::string>{"new"});
}
