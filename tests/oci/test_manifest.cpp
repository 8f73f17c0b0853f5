// SPDX-License-Identifier: Apache-2.0
// Manifests, indexes, platform selection, image configs and image records.
#include <catch.hpp>

#include <variant>

#include "rootfs/oci/image_config.hpp"
#include "rootfs/oci/image_record.hpp"
#include "rootfs/oci/manifest.hpp"
#include "rootfs/oci/media_types.hpp"

using namespace nexus;
using namespace nexus::oci;

namespace {

std::string digest_of(const std::string& s) { return sha256_of(s).str(); }

Json desc(std::string_view type, const std::string& content) {
  return Json{{"mediaType", type}, {"digest", digest_of(content)}, {"size", content.size()}};
}

Json manifest_doc(std::string_view type, std::string_view layer_type) {
  return Json{{"schemaVersion", 2},
              {"mediaType", type},
              {"config", desc(media::kOciConfig, "config")},
              {"layers", Json::array({desc(layer_type, "l1"), desc(layer_type, "l2")})}};
}

Json index_entry(const std::string& content, const std::string& os, const std::string& arch,
                 const std::string& variant = "") {
  Json d = desc(media::kOciManifest, content);
  d["platform"] = {{"os", os}, {"architecture", arch}};
  if (!variant.empty()) d["platform"]["variant"] = variant;
  return d;
}

ImageIndex index_of(const Json& entries) {
  auto p =
      parse_manifest(dump_json(Json{{"schemaVersion", 2}, {"mediaType", media::kOciIndex}, {"manifests", entries}}));
  REQUIRE(p);
  return std::get<ImageIndex>(*p);
}

std::string error_of(const Json& doc, std::string_view content_type = {}) {
  auto p = parse_manifest(dump_json(doc), content_type);
  REQUIRE_FALSE(p);
  return p.error().message();
}

}  // namespace

TEST_CASE("OCI and Docker manifests parse into one model", "[manifest]") {
  for (auto [type, layer] : {std::pair{media::kOciManifest, media::kOciLayerGzip},
                             std::pair{media::kDockerManifest, media::kDockerLayerGzip}}) {
    auto p = parse_manifest(dump_json(manifest_doc(type, layer)), type);
    REQUIRE(p);
    const auto& m = std::get<ImageManifest>(*p);
    CHECK(m.media_type == type);
    CHECK(m.config.digest.str() == digest_of("config"));
    CHECK(m.config.size == 6);
    REQUIRE(m.layers.size() == 2);
    CHECK(m.layers[1].digest.str() == digest_of("l2"));
    CHECK(m.layers[0].media_type == layer);
  }
  // An OCI layout's manifest may leave mediaType out: told by its shape.
  Json bare = manifest_doc(media::kOciManifest, media::kOciLayer);
  bare.erase("mediaType");
  auto p = parse_manifest(dump_json(bare));
  REQUIRE(p);
  CHECK(std::get<ImageManifest>(*p).media_type == media::kOciManifest);
  // A content type with parameters is fine.
  CHECK(parse_manifest(dump_json(manifest_doc(media::kOciManifest, media::kOciLayer)),
                       std::string(media::kOciManifest) + "; charset=utf-8"));
}

TEST_CASE("indexes and manifest lists", "[manifest]") {
  Json list{{"schemaVersion", 2},
            {"mediaType", media::kDockerList},
            {"manifests", Json::array({index_entry("a", "linux", "amd64"), index_entry("b", "linux", "arm64", "v8")})}};
  list["manifests"][0]["mediaType"] = media::kDockerManifest;
  auto p = parse_manifest(dump_json(list), media::kDockerList);
  REQUIRE(p);
  const auto& idx = std::get<ImageIndex>(*p);
  REQUIRE(idx.manifests.size() == 2);
  CHECK(idx.manifests[1].platform->str() == "linux/arm64");
}

TEST_CASE("bad manifests are refused with a reason", "[manifest]") {
  CHECK(error_of(Json{{"schemaVersion", 1}, {"name", "x"}, {"fsLayers", Json::array()}}).find("schema 1") !=
        std::string::npos);
  CHECK(error_of(manifest_doc(media::kOciManifest, media::kOciLayer), media::kDockerSchema1Signed).find("schema 1") !=
        std::string::npos);
  CHECK(error_of(manifest_doc("application/vnd.example+json", media::kOciLayer))
            .find("unsupported manifest media type") != std::string::npos);
  CHECK(error_of(manifest_doc(media::kOciManifest, "application/x-helm")).find("unsupported layer media type") !=
        std::string::npos);
  CHECK(error_of(manifest_doc(media::kOciManifest, media::kOciLayer), media::kDockerManifest).find("served as") !=
        std::string::npos);
  Json no_size = manifest_doc(media::kOciManifest, media::kOciLayer);
  no_size["layers"][0].erase("size");
  CHECK(error_of(no_size).find("layers[0]") != std::string::npos);
  Json bad_digest = manifest_doc(media::kOciManifest, media::kOciLayer);
  bad_digest["config"]["digest"] = "sha256:1234";
  CHECK(error_of(bad_digest).find("config") != std::string::npos);
  CHECK(error_of(Json::array()).find("not a JSON object") != std::string::npos);

  std::string huge(limits::kMaxManifestBytes + 1, ' ');
  auto p = parse_manifest(huge);
  REQUIRE_FALSE(p);
  CHECK(p.error().is(Errc::too_large));
  CHECK_FALSE(parse_manifest("{\"schemaVersion\": 2, "));
}

TEST_CASE("platform selection", "[manifest][platform]") {
  Json attest = desc(media::kOciManifest, "att");
  attest["platform"] = {{"os", "unknown"}, {"architecture", "unknown"}};
  auto idx =
      index_of(Json::array({attest, index_entry("arm", "linux", "arm64", "v8"), index_entry("amd", "linux", "amd64"),
                            index_entry("v7", "linux", "arm", "v7"), index_entry("v6", "linux", "arm", "v6")}));
  auto d = select_platform(idx, Platform{});
  REQUIRE(d);
  CHECK(d->digest.str() == digest_of("amd"));
  d = select_platform(idx, {"linux", "arm64", ""});
  REQUIRE(d);
  CHECK(d->digest.str() == digest_of("arm"));
  d = select_platform(idx, {"linux", "arm", "v6"});
  REQUIRE(d);
  CHECK(d->digest.str() == digest_of("v6"));
  d = select_platform(idx, {"linux", "arm", ""});  // no variant asked: the first arm
  REQUIRE(d);
  CHECK(d->digest.str() == digest_of("v7"));

  auto missing = select_platform(idx, {"linux", "s390x", ""});
  REQUIRE_FALSE(missing);
  CHECK(missing.error().is(Errc::not_found));
  CHECK(missing.error().message().find("linux/s390x") != std::string::npos);
  CHECK(missing.error().message().find("linux/amd64, linux/arm/v7") != std::string::npos);
  CHECK(missing.error().message().find("unknown") == std::string::npos);
}

TEST_CASE("image configs", "[config]") {
  Json cfg{{"architecture", "amd64"},
           {"os", "linux"},
           {"config",
            {{"Env", {"PATH=/usr/bin", "A=b"}},
             {"Entrypoint", {"/bin/sh", "-c"}},
             {"Cmd", {"echo hi"}},
             {"WorkingDir", "/app"},
             {"User", "1000:1000"}}},
           {"rootfs", {{"type", "layers"}, {"diff_ids", {digest_of("a"), digest_of("b")}}}}};
  auto c = parse_image_config(dump_json(cfg));
  REQUIRE(c);
  CHECK(c->env == std::vector<std::string>{"PATH=/usr/bin", "A=b"});
  CHECK(c->entrypoint.size() == 2);
  CHECK(c->cmd == std::vector<std::string>{"echo hi"});
  CHECK(c->working_dir == "/app");
  CHECK(c->user == "1000:1000");
  REQUIRE(c->diff_ids.size() == 2);
  CHECK(c->diff_ids[1].str() == digest_of("b"));

  auto round = image_config_from_json(image_config_to_json(*c));
  REQUIRE(round);
  CHECK(round->env == c->env);
  CHECK(round->diff_ids == c->diff_ids);
  CHECK(round->platform == c->platform);

  cfg["config"]["Cmd"] = "not a list";
  auto bad = parse_image_config(dump_json(cfg));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message().find("Cmd") != std::string::npos);
  cfg.erase("rootfs");
  CHECK_FALSE(parse_image_config(dump_json(cfg)));
  // A config with no "config" object (scratch images) is fine.
  auto minimal =
      parse_image_config(R"({"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}})");
  REQUIRE(minimal);
  CHECK(minimal->platform.architecture == "arm64");
}

TEST_CASE("image records round-trip through JSON", "[record]") {
  ImageRecord r;
  r.reference = "127.0.0.1:5000/a/b:v1";
  r.index_digest = sha256_of("index");
  r.manifest_digest = sha256_of("manifest");
  r.manifest_media_type = std::string(media::kOciManifest);
  r.config_digest = sha256_of("config");
  r.layers = {{sha256_of("l1"), std::string(media::kOciLayerGzip), 10},
              {sha256_of("l2"), std::string(media::kOciLayerZstd), 20}};
  r.config.cmd = {"sh"};
  r.config.diff_ids = {sha256_of("d1"), sha256_of("d2")};
  auto back = image_record_from_json(parse_json(dump_json(image_record_to_json(r))).value());
  REQUIRE(back);
  CHECK(back->reference == r.reference);
  CHECK(back->index_digest == r.index_digest);
  CHECK(back->manifest_digest == r.manifest_digest);
  CHECK(back->config_digest == r.config_digest);
  REQUIRE(back->layers.size() == 2);
  CHECK(back->layers[1].media_type == media::kOciLayerZstd);
  CHECK(back->layers[1].size == 20);
  CHECK(back->config.cmd == r.config.cmd);
  CHECK(back->blobs().size() == 5);

  Json bad = image_record_to_json(r);
  bad["layers"][0]["digest"] = "sha256:nope";
  CHECK_FALSE(image_record_from_json(bad));
}
