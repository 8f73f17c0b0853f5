// SPDX-License-Identifier: Apache-2.0
// Decompression bombs, entry limits, garbage and truncated blobs, and a seeded mutation replay.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "fixture.hpp"
#include "rootfs/fs_util.hpp"

using namespace nexus;
using namespace nexus::rootfs::layer;
using namespace nexus::rootfs::layer::test;

namespace {

constexpr uint64_t kMiB = 1 << 20;

void write_bytes(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

ApplyOptions limited(uint64_t bytes, uint64_t entries = 1000) {
  ApplyOptions o;
  o.limits.max_unpacked_bytes = bytes;
  o.limits.max_entries = entries;
  return o;
}

}  // namespace

TEST_CASE("a few KB of gzip expanding past the limit fail with too_large", "[layer][limits]") {
  for (Codec codec : {Codec::gzip, Codec::zstd}) {
    Sandbox sb;
    sb.layer("small").file("etc/ok", "fine");
    sb.layer("bomb", codec).file("a", "a").zeros("big", 24 * kMiB);
    auto r = sb.apply(limited(16 * kMiB));
    CHECK(lstat_of(sb.blobs()[1].path).st_size < 32 * 1024);
    require_error(r, {"layer 2/2 (sha256:bomb)", "'big'", "limit of 16777216 bytes"});
    CHECK(r.error().is(Errc::too_large));
    CHECK_FALSE(exists(sb.in_root("big")));  // refused before it was created
    CHECK(slurp(sb.in_root("a")) == "a");
    sb.check_sentinel();
  }
}

TEST_CASE("the byte limit counts the whole image, every layer", "[layer][limits]") {
  Sandbox sb;
  sb.layer("one").zeros("a", 6 * kMiB);
  sb.layer("two").zeros("b", 6 * kMiB);
  auto r = sb.apply(limited(10 * kMiB));
  require_error(r, {"layer 2/2 (sha256:two)", "'b'", "past its limit of 10485760 bytes"});
  CHECK(r.error().is(Errc::too_large));
  CHECK(lstat_of(sb.in_root("a")).st_size == static_cast<off_t>(6 * kMiB));
}

TEST_CASE("the decompressed stream is bounded even when no file is written",
          "[layer][limits]") {
  // Whiteouts and skipped devices write nothing; their headers still inflate.
  Sandbox sb;
  auto& w = sb.layer("headers");
  for (int i = 0; i < 2000; ++i) w.file(".wh.gone-" + std::to_string(i), "");
  auto r = sb.apply(limited(256 * 1024, 100000));
  require_error(r, {"layer 1/1 (sha256:headers)", "unpack to more than 262144 bytes"});
  CHECK(r.error().is(Errc::too_large));
}

TEST_CASE("too many entries fail with too_large naming the entry", "[layer][limits]") {
  Sandbox sb;
  auto& w = sb.layer("many");
  for (int i = 0; i < 150; ++i) w.file("f" + std::to_string(i), "");
  auto r = sb.apply(limited(kMiB, 100));
  require_error(r, {"layer 1/1 (sha256:many)", "more than 100 entries"});
  CHECK(r.error().is(Errc::too_large));
  CHECK(exists(sb.in_root("f99")));
  CHECK_FALSE(exists(sb.in_root("f100")));
}

TEST_CASE("garbage and truncated blobs fail naming the layer", "[layer][limits]") {
  Sandbox sb;
  sb.layer("valid").file("etc/data", std::string(200000, 'x')).file("etc/more", "m");
  REQUIRE(sb.apply());  // closes the writer; the blob is reused below
  std::string valid = slurp(sb.blobs()[0].path);

  std::vector<std::pair<std::string, std::string>> blobs = {
      {"garbage", std::string(4096, '\x5a')},
      {"gzip-garbage", std::string("\x1f\x8b\x08\x00", 4) + std::string(2000, '\x01')},
      {"zstd-garbage", std::string("\x28\xb5\x2f\xfd", 4) + std::string(2000, '\x01')},
      {"truncated", valid.substr(0, valid.size() / 2)},
      {"empty", ""},
  };
  int n = 0;
  for (const auto& [name, bytes] : blobs) {
    INFO("blob " << name);
    std::string path = sb.blob_path();
    write_bytes(path, bytes);
    std::string root = sb.root() + "-" + std::to_string(n++);
    REQUIRE(mkdir(root.c_str(), 0755) == 0);
    std::vector<LayerBlob> layers = {sb.blobs()[0], LayerBlob{path, "", "sha256:" + name}};
    auto r = apply_layers(layers, root);
    require_error(r, {"layer 2/2 (sha256:" + name + ")"});
    CHECK(r.error().is(Errc::invalid_argument));
    CHECK(slurp(root + "/etc/more") == "m");  // the good layer below it was applied
  }
  sb.check_sentinel();
}

TEST_CASE("seeded mutations of valid layers never crash or escape", "[layer][fuzz]") {
  Sandbox sb;
  for (Codec codec : {Codec::plain, Codec::gzip}) {
    sb.layer(codec == Codec::plain ? "plain" : "gzip", codec)
        .dir("d/", Attrs{.mode = 0755, .uid = 3})
        .file("d/f", "content", Attrs{.xattrs = {{"user.a", "b"}}})
        .symlink("s", sb.sentinel())
        .hardlink("d/h", "d/f")
        .file("d/.wh.x", "")
        .fifo("p")
        .file("e/.wh..wh..opq", "")
        .file("s2", "x");
  }
  REQUIRE(sb.apply());
  std::mt19937 rng(20240501);
  int applied = 0, failed = 0;
  for (const auto& blob : sb.blobs()) {
    std::string original = slurp(blob.path);
    for (int round = 0; round < 150; ++round) {
      std::string bytes = original;
      int flips = 1 + static_cast<int>(rng() % 8);
      for (int i = 0; i < flips; ++i)
        bytes[rng() % bytes.size()] = static_cast<char>(rng() & 0xff);
      std::string path = sb.blob_path();
      write_bytes(path, bytes);
      std::string root = sb.root() + "-fuzz";
      REQUIRE(mkdir(root.c_str(), 0755) == 0);
      std::vector<LayerBlob> layers = {LayerBlob{path, "", blob.digest}};
      auto r = apply_layers(layers, root, limited(4 * kMiB));
      if (r) {
        ++applied;
      } else {
        ++failed;
        CHECK_THAT(r.error().message(), Catch::StartsWith("layer 1/1 (" + blob.digest + ")"));
      }
      REQUIRE(rootfs::remove_tree(root));
      REQUIRE(unlink(path.c_str()) == 0);
    }
  }
  sb.check_sentinel();
  CHECK(applied > 0);  // the mutations hit data as well as headers
  CHECK(failed > 0);
}
