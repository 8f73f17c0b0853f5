// SPDX-License-Identifier: Apache-2.0
// Imports: OCI image layout directories and `docker save` archives the tests write.
#include <catch.hpp>

#include <sys/stat.h>

#include <variant>

#include "../rootfs/tar_writer.hpp"
#include "../rootfs/test_util.hpp"
#include "rootfs/oci/docker_archive.hpp"
#include "rootfs/oci/manifest.hpp"
#include "rootfs/oci/media_types.hpp"
#include "rootfs/oci/oci_layout.hpp"
#include "rootfs/oci/pull.hpp"

using namespace nexus;
using namespace nexus::oci;
using nexus::rootfs::test::slurp;
using nexus::rootfs::test::spit;
using nexus::rootfs::test::TarWriter;
using nexus::rootfs::test::TempDir;

namespace {

// A one-file layer tar, as bytes.
std::string layer_tar(const TempDir& t, const std::string& file, const std::string& content) {
  std::string path = t / ("layer-" + file + ".tar");
  {
    TarWriter w(path);
    w.file(file, content);
  }
  return slurp(path);
}

std::string config_json(const std::string& arch, const std::vector<std::string>& diff_ids) {
  return dump_json(Json{{"architecture", arch},
                        {"os", "linux"},
                        {"config", {{"Cmd", {"/bin/" + arch}}, {"Env", {"ARCH=" + arch}}}},
                        {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}});
}

Json desc(std::string_view type, const std::string& content) {
  return Json{{"mediaType", type}, {"digest", sha256_of(content).str()}, {"size", content.size()}};
}

// An OCI layout: ref "v1" is a two-platform index, ref "single" an amd64 manifest.
struct Layout {
  std::string dir;
  std::map<std::string, std::string> manifest_of;  // arch -> manifest JSON
  std::string index;
  std::string amd64_layer;

  explicit Layout(const TempDir& t) : dir(t / "layout") {
    REQUIRE(::mkdir(dir.c_str(), 0755) == 0);
    REQUIRE(::mkdir((dir + "/blobs").c_str(), 0755) == 0);
    REQUIRE(::mkdir((dir + "/blobs/sha256").c_str(), 0755) == 0);
    spit(dir + "/oci-layout", R"({"imageLayoutVersion": "1.0.0"})");
    Json entries = Json::array();
    for (const std::string arch : {"amd64", "arm64"}) {
      std::string layer = layer_tar(t, arch, "built for " + arch);
      if (arch == "amd64") amd64_layer = layer;
      std::string config = config_json(arch, {sha256_of(layer).str()});
      std::string manifest = dump_json(Json{{"schemaVersion", 2},
                                            {"mediaType", media::kOciManifest},
                                            {"config", desc(media::kOciConfig, config)},
                                            {"layers", Json::array({desc(media::kOciLayer, layer)})}});
      for (const auto* blob : {&layer, &config, &manifest}) blob_file(*blob);
      manifest_of[arch] = manifest;
      Json e = desc(media::kOciManifest, manifest);
      e["platform"] = {{"os", "linux"}, {"architecture", arch}};
      entries.push_back(e);
    }
    index = dump_json(Json{{"schemaVersion", 2}, {"mediaType", media::kOciIndex}, {"manifests", entries}});
    blob_file(index);
    Json top_index = desc(media::kOciIndex, index);
    top_index["annotations"] = {{"org.opencontainers.image.ref.name", "v1"}};
    Json single = desc(media::kOciManifest, manifest_of["amd64"]);
    single["annotations"] = {{"org.opencontainers.image.ref.name", "single"}};
    spit(dir + "/index.json", dump_json(Json{{"schemaVersion", 2}, {"manifests", {top_index, single}}}));
  }

  void blob_file(const std::string& content) const { spit(dir + "/blobs/sha256/" + sha256_of(content).hex(), content); }
};

}  // namespace

TEST_CASE("OCI layout: a named multi-platform image", "[import][layout]") {
  TempDir t, root;
  Layout layout(t);
  auto store = ContentStore::at(root.path()).value();
  std::vector<BlobProgress> reports;
  auto rec =
      pull("oci:" + layout.dir + ":v1", PullOptions{}, store, [&](const BlobProgress& p) { reports.push_back(p); });
  REQUIRE(rec);
  CHECK(rec->reference == "oci:" + layout.dir + ":v1");
  CHECK(rec->index_digest == sha256_of(layout.index));
  CHECK(rec->manifest_digest == sha256_of(layout.manifest_of["amd64"]));
  CHECK(rec->config.cmd == std::vector<std::string>{"/bin/amd64"});
  REQUIRE(rec->layers.size() == 1);
  CHECK(rec->layers[0].digest == sha256_of(layout.amd64_layer));
  for (const auto& d : rec->blobs()) CHECK(store.has(d));
  CHECK(slurp(store.path(rec->layers[0].digest)) == layout.amd64_layer);
  CHECK_FALSE(reports.empty());
  CHECK(reports.back().state == BlobProgress::State::done);

  LayoutImport arm;
  arm.platform = {"linux", "arm64", ""};
  auto rec_arm = import_oci_layout(layout.dir + ":v1", arm, store);
  REQUIRE(rec_arm);
  CHECK(rec_arm->manifest_digest == sha256_of(layout.manifest_of["arm64"]));
  CHECK(rec_arm->config.platform.architecture == "arm64");

  LayoutImport s390x;
  s390x.platform = {"linux", "s390x", ""};
  auto none = import_oci_layout(layout.dir + ":v1", s390x, store);
  REQUIRE_FALSE(none);
  CHECK(none.error().is(Errc::not_found));
  CHECK(none.error().message().find("linux/s390x") != std::string::npos);
}

TEST_CASE("OCI layout: choosing and failing", "[import][layout]") {
  TempDir t, root;
  Layout layout(t);
  auto store = ContentStore::at(root.path()).value();
  auto single = import_oci_layout(layout.dir + ":single", {}, store);
  REQUIRE(single);
  CHECK_FALSE(single->index_digest);

  auto unnamed = import_oci_layout(layout.dir, {}, store);
  REQUIRE_FALSE(unnamed);
  CHECK(unnamed.error().message().find("name one") != std::string::npos);
  CHECK(unnamed.error().message().find("v1, single") != std::string::npos);

  auto unknown = import_oci_layout(layout.dir + ":nope", {}, store);
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().is(Errc::not_found));

  CHECK(import_oci_layout(t / "missing", {}, store).error().is(Errc::not_found));

  // A blob that does not match its digest is refused, and not stored.
  TempDir root2;
  auto store2 = ContentStore::at(root2.path()).value();
  spit(layout.dir + "/blobs/sha256/" + sha256_of(layout.amd64_layer).hex(), "tampered");
  auto bad = import_oci_layout(layout.dir + ":single", {}, store2);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().is(Errc::protocol));
  CHECK_FALSE(store2.has(sha256_of(layout.amd64_layer)));
}

namespace {

// A docker save archive: legacy layout, manifest.json last, the third layer a symlink to the
// first (as docker writes shared layers).
std::string docker_archive(const TempDir& t, bool wrong_diff_id, std::vector<std::string>* layers_out) {
  std::string l1 = layer_tar(t, "one", "first layer"), l2 = layer_tar(t, "two", "second layer");
  std::vector<std::string> diff_ids = {sha256_of(l1).str(), sha256_of(l2).str(), sha256_of(l1).str()};
  if (wrong_diff_id) diff_ids[1] = sha256_of("something else").str();
  std::string config = config_json("amd64", diff_ids);
  std::string path = t / "saved.tar";
  TarWriter w(path);
  w.file("repositories", R"({"app":{"v1":"x"}})");
  w.dir("aaa");
  w.file("aaa/layer.tar", l1);
  w.file("aaa/VERSION", "1.0");
  w.dir("bbb");
  w.file("bbb/layer.tar", l2);
  w.dir("ccc");
  w.symlink("ccc/layer.tar", "../aaa/layer.tar");
  w.file(sha256_of(config).hex() + ".json", config);
  w.file("manifest.json",
         dump_json(Json::array({{{"Config", sha256_of(config).hex() + ".json"},
                                 {"RepoTags", {"app:v1"}},
                                 {"Layers", {"aaa/layer.tar", "./bbb/layer.tar", "ccc/layer.tar"}}}})));
  w.close();
  if (layers_out) *layers_out = {l1, l2, l1};
  return path;
}

}  // namespace

TEST_CASE("docker save archives become an OCI image in the store", "[import][docker]") {
  TempDir t, root;
  std::vector<std::string> layers;
  std::string path = docker_archive(t, false, &layers);
  auto store = ContentStore::at(root.path()).value();
  auto rec = pull("docker-archive:" + path, PullOptions{}, store);
  REQUIRE(rec);
  CHECK(rec->reference == "docker-archive:" + path);
  CHECK(rec->manifest_media_type == media::kOciManifest);
  REQUIRE(rec->layers.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(rec->layers[i].digest == sha256_of(layers[i]));
    CHECK(rec->layers[i].media_type == media::kOciLayer);
    CHECK(rec->layers[i].size == layers[i].size());
  }
  CHECK(rec->config.cmd == std::vector<std::string>{"/bin/amd64"});
  for (const auto& d : rec->blobs()) CHECK(store.has(d));
  // The manifest written for it is a valid OCI manifest naming the same blobs.
  auto m = parse_manifest(store.read(rec->manifest_digest, 1 << 20).value());
  REQUIRE(m);
  CHECK(std::get<ImageManifest>(*m).config.digest == rec->config_digest);
  CHECK(std::get<ImageManifest>(*m).layers.size() == 3);
  // Nothing but the image: VERSION and repositories were not ingested.
  CHECK(store.list().value().size() == 4);
}

TEST_CASE("docker save archives that do not add up are refused", "[import][docker]") {
  TempDir t, root;
  auto store = ContentStore::at(root.path()).value();
  auto bad = import_docker_archive(docker_archive(t, true, nullptr), store);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().is(Errc::protocol));
  CHECK(bad.error().message().find("bbb/layer.tar") != std::string::npos);

  std::string plain = t / "plain.tar";
  {
    TarWriter w(plain);
    w.file("hello", "world");
  }
  auto not_docker = import_docker_archive(plain, store);
  REQUIRE_FALSE(not_docker);
  CHECK(not_docker.error().message().find("manifest.json") != std::string::npos);
  CHECK_FALSE(import_docker_archive(t / "missing.tar", store));
}
