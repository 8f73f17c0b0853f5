// SPDX-License-Identifier: Apache-2.0
// apply_layers: stacking layers of each compression, ownership, modes, times, xattrs,
// devices, progress and media types.
#include <linux/capability.h>
#include <sys/sysmacros.h>

#include "fixture.hpp"
#include "rootfs/layer/erofs_options.hpp"

using namespace nexus;
using namespace nexus::rootfs::layer;
using namespace nexus::rootfs::layer::test;

namespace {

// A v2 security.capability granting cap_net_raw (bit 13), effective.
std::string capability_v2() {
  std::string v(XATTR_CAPS_SZ_2, '\0');
  v[0] = 0x01;       // VFS_CAP_FLAGS_EFFECTIVE
  v[3] = 0x02;       // VFS_CAP_REVISION_2 (little-endian top byte)
  v[5] = 1 << 5;     // permitted bit 13
  return v;
}

uint32_t le32(const std::string& v, size_t off) {
  uint32_t x = 0;
  for (size_t i = 0; i < 4; ++i) x |= uint32_t{static_cast<unsigned char>(v[off + i])} << (8 * i);
  return x;
}

}  // namespace

TEST_CASE("layers of each compression stack in order with owners, modes, times, xattrs",
          "[layer]") {
  Sandbox sb;
  sb.layer("one", Codec::gzip)
      .dir("./", dir_attrs())
      .dir("etc/", Attrs{.mode = 0755, .mtime = 1600000000})
      .file("etc/hostname", "one\n")
      .dir("home/")
      .dir("home/user/", Attrs{.mode = 0700, .uid = 1000, .gid = 1000, .mtime = 1600000100})
      .file("home/user/.profile", "x", Attrs{.mode = 0640, .uid = 1000, .gid = 1000})
      .dir("tmp/", dir_attrs(01777))
      .file("usr/bin/su", "su", Attrs{.mode = 04755, .mtime = 1234567890})
      .file("usr/bin/wall", "w", Attrs{.mode = 02755, .gid = 5})
      .file("usr/bin/ping", "p",
            Attrs{.mode = 0755,
                  .xattrs = {{"security.capability", capability_v2()},
                             {"user.tag", "v"},
                             {"trusted.overlay.opaque", "y"},
                             {"security.selinux", "system_u:object_r:bin_t"}}});
  sb.layer("two", Codec::zstd)
      .file("etc/hostname", "two\n")
      .file("home/user/notes", "n", Attrs{.mode = 0600, .uid = 1000, .gid = 1000})
      .dir("home/user/", Attrs{.mode = 0750, .uid = 1000, .gid = 1001, .mtime = 1600000300});
  sb.layer("three", Codec::plain).file("opt/app", "app");

  auto r = sb.apply();
  REQUIRE(r);
  CHECK(r->layers.size() == 3);
  CHECK(r->layers[0].files == 5);
  CHECK(r->layers[0].dirs == 5);
  CHECK(r->layers[1].files == 2);
  CHECK(r->layers[2].files == 1);
  CHECK(r->total.files == 8);
  CHECK(r->total.dirs == 6);
  CHECK(r->total.entries == 14);
  CHECK(r->total.dropped_xattrs == 2);
  CHECK(r->total.bytes == 4 + 1 + 2 + 1 + 1 + 4 + 1 + 3);

  CHECK(slurp(sb.in_root("etc/hostname")) == "two\n");
  CHECK(slurp(sb.in_root("opt/app")) == "app");
  auto su = lstat_of(sb.in_root("usr/bin/su"));
  CHECK((su.st_mode & 07777) == 04755);
  CHECK(su.st_mtim.tv_sec == 1234567890);
  auto wall = lstat_of(sb.in_root("usr/bin/wall"));
  CHECK((wall.st_mode & 07777) == 02755);
  CHECK(wall.st_gid == 5);
  CHECK((lstat_of(sb.in_root("tmp")).st_mode & 07777) == 01777);
  // Implicit parents: root-owned 0755.
  auto usr = lstat_of(sb.in_root("usr"));
  CHECK((usr.st_mode & 07777) == 0755);
  CHECK(usr.st_uid == 0);

  auto user = lstat_of(sb.in_root("home/user"));
  CHECK((user.st_mode & 07777) == 0750);  // the later layer's entry wins
  CHECK(user.st_uid == 1000);
  CHECK(user.st_gid == 1001);
  // Directory mtimes survive the writes into them that came later.
  CHECK(user.st_mtim.tv_sec == 1600000300);
  CHECK(lstat_of(sb.in_root("etc")).st_mtim.tv_sec == 1600000000);
  auto profile = lstat_of(sb.in_root("home/user/.profile"));
  CHECK(profile.st_uid == 1000);
  CHECK((profile.st_mode & 07777) == 0640);
  CHECK(profile.st_mtim.tv_sec == 1700000000);

  std::string ping = sb.in_root("usr/bin/ping");
  CHECK(xattr_of(ping, "user.tag") == "v");
  CHECK(xattr_of(ping, "security.capability") == capability_v2());
  CHECK_FALSE(xattr_of(ping, "trusted.overlay.opaque"));
  CHECK_FALSE(xattr_of(ping, "security.selinux"));
  sb.check_sentinel();
}

TEST_CASE("the id shift moves owners and file capabilities into the jail's range", "[layer]") {
  Sandbox sb;
  sb.layer("a")
      .file("home/u/f", "f", Attrs{.mode = 04750, .uid = 1000, .gid = 100})
      .file("ping", "p", Attrs{.mode = 0755, .xattrs = {{"security.capability", capability_v2()}}})
      .symlink("link", "ping");
  ApplyOptions opt;
  opt.id_shift = IdShift{100000, 65536};
  auto r = sb.apply(opt);
  REQUIRE(r);
  auto f = lstat_of(sb.in_root("home/u/f"));
  CHECK(f.st_uid == 101000);
  CHECK(f.st_gid == 100100);
  CHECK((f.st_mode & 07777) == 04750);
  CHECK(lstat_of(sb.in_root("home")).st_uid == 100000);  // implicit parent: the image's root
  CHECK(lstat_of(sb.in_root("link")).st_uid == 100000);
  // From the host the capability reads back as v3 owned by the namespace's root.
  auto cap = xattr_of(sb.in_root("ping"), "security.capability");
  REQUIRE(cap);
  REQUIRE(cap->size() == XATTR_CAPS_SZ_3);
  CHECK((le32(*cap, 0) & VFS_CAP_REVISION_MASK) == VFS_CAP_REVISION_3);
  CHECK(le32(*cap, 0) & VFS_CAP_FLAGS_EFFECTIVE);
  CHECK(le32(*cap, 4) == 1u << 13);
  CHECK(le32(*cap, XATTR_CAPS_SZ_2) == 100000);

  CHECK(erofs_options_for(opt).id_shift == 100000);
  CHECK(erofs_options_for(ApplyOptions{}).id_shift == 0);
}

TEST_CASE("an owner outside the shift's range fails, naming layer and entry", "[layer]") {
  Sandbox sb;
  sb.layer("ok").file("fine", "x");
  sb.layer("bad").file("usr/share/odd", "x", Attrs{.uid = 70000, .gid = 0});
  ApplyOptions opt;
  opt.id_shift = IdShift{100000, 65536};
  auto r = sb.apply(opt);
  require_error(r, {"layer 2/2 (sha256:bad)", "'usr/share/odd'", "70000:0", "0-65535"});
  CHECK(r.error().is(Errc::invalid_argument));
  CHECK_FALSE(exists(sb.in_root("usr/share/odd")));
}

TEST_CASE("devices are skipped and counted unless allowed; FIFOs are created", "[layer]") {
  for (bool allow : {false, true}) {
    Sandbox sb;
    sb.layer("dev")
        .file("dev/null", "a lower file the device replaces")
        .device("dev/null", false, 1, 3)
        .device("dev/sda", true, 8, 0)
        .fifo("run/initctl");
    ApplyOptions opt;
    opt.allow_devices = allow;
    auto r = sb.apply(opt);
    REQUIRE(r);
    auto fifo = lstat_of(sb.in_root("run/initctl"));
    CHECK(S_ISFIFO(fifo.st_mode));
    CHECK((fifo.st_mode & 07777) == 0620);
    if (!allow) {
      CHECK(r->total.skipped_devices == 2);
      CHECK(r->total.specials == 1);
      CHECK_FALSE(exists(sb.in_root("dev/null")));
      CHECK_FALSE(exists(sb.in_root("dev/sda")));
    } else {
      CHECK(r->total.skipped_devices == 0);
      CHECK(r->total.specials == 3);
      auto null = lstat_of(sb.in_root("dev/null"));
      CHECK(S_ISCHR(null.st_mode));
      CHECK(null.st_rdev == makedev(1, 3));
      CHECK(S_ISBLK(lstat_of(sb.in_root("dev/sda")).st_mode));
    }
  }
}

TEST_CASE("progress reports each layer's compressed bytes up to the blob's size", "[layer]") {
  Sandbox sb;
  std::string noise;
  uint32_t x = 12345;
  for (int i = 0; i < 3 << 20; ++i) {  // 3 MiB that gzip cannot shrink much
    x = x * 1103515245 + 12345;
    noise.push_back(static_cast<char>(x >> 24));
  }
  sb.layer("big").file("noise", noise);
  sb.layer("small").file("tiny", "t");
  std::vector<Progress> seen;
  ApplyOptions opt;
  opt.progress = [&](const Progress& p) { seen.push_back(p); };
  REQUIRE(sb.apply(opt));

  for (size_t layer = 0; layer < 2; ++layer) {
    std::vector<Progress> mine;
    for (const auto& p : seen)
      if (p.layer == layer) mine.push_back(p);
    REQUIRE(mine.size() >= 2);
    uint64_t size = lstat_of(sb.blobs()[layer].path).st_size;
    CHECK(mine.front().compressed_read == 0);
    CHECK(mine.back().compressed_read == size);
    for (const auto& p : mine) {
      CHECK(p.layers == 2);
      CHECK(p.compressed_total == size);
      CHECK(p.digest == sb.blobs()[layer].digest);
    }
    for (size_t i = 1; i < mine.size(); ++i)
      CHECK(mine[i].compressed_read >= mine[i - 1].compressed_read);
    if (layer == 0) CHECK(mine.size() >= 4);  // a report about every MiB in between
  }
}

TEST_CASE("media types: the content decides, a wrong one fails clearly", "[layer]") {
  Sandbox sb;
  sb.layer("gz", Codec::gzip).file("a", "a");
  sb.layer("plain", Codec::plain).file("b", "b");
  auto blobs = sb.blobs();
  (void)sb.apply();  // closes the writers; the tree is rebuilt below
  int n = 0;
  auto fresh = [&](const std::vector<LayerBlob>& layers) {
    std::string root = sb.root() + "-" + std::to_string(n++);
    REQUIRE(mkdir(root.c_str(), 0755) == 0);
    return apply_layers(layers, root);
  };

  blobs[0].media_type = "application/vnd.oci.image.layer.v1.tar+zstd";  // mislabelled
  blobs[1].media_type = "application/vnd.docker.image.rootfs.diff.tar";
  CHECK(fresh(blobs));

  blobs[1].media_type = "application/vnd.oci.image.layer.v1.tar+gzip";
  auto r = fresh(blobs);
  require_error(r, {"layer 2/2 (sha256:plain)", "says gzip", "no gzip header"});

  blobs[1].media_type = "application/vnd.oci.image.config.v1+json";
  r = fresh(blobs);
  require_error(r, {"layer 2/2", "unsupported layer media type"});
}

TEST_CASE("the destination must be an empty directory", "[layer]") {
  Sandbox sb;
  sb.layer("a").file("a", "a");
  REQUIRE(sb.apply());
  auto again = apply_layers(sb.blobs(), sb.root());
  REQUIRE_FALSE(again);
  CHECK_THAT(again.error().message(), Catch::Contains("is not empty"));
}

TEST_CASE("a directory over a directory takes the new entry's xattrs", "[layer]") {
  Sandbox sb;
  sb.layer("one").dir("d/", Attrs{.mode = 0755, .xattrs = {{"user.old", "1"}}}).file("d/f", "f");
  sb.layer("two").dir("d/", Attrs{.mode = 0700, .xattrs = {{"user.new", "2"}}});
  REQUIRE(sb.apply());
  CHECK_FALSE(xattr_of(sb.in_root("d"), "user.old"));
  CHECK(xattr_of(sb.in_root("d"), "user.new") == "2");
  CHECK((lstat_of(sb.in_root("d")).st_mode & 07777) == 0700);
  CHECK(slurp(sb.in_root("d/f")) == "f");
}
