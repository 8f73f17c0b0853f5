// SPDX-License-Identifier: Apache-2.0
// Tests for the images table (daemon/image_store.cpp) and ImageService::find's matching.
#include <catch.hpp>

#include <unistd.h>

#include <filesystem>

#include "common/uv.hpp"
#include "daemon/image_service.hpp"
#include "daemon/store.hpp"
#include "tests/daemon/temp_dir.hpp"

using namespace nexus;
using namespace nexus::daemon;

namespace {


ImageRow row(const std::string& ref, char hex, int64_t at) {
  ImageRow r;
  r.reference = ref;
  r.manifest_digest = "sha256:" + std::string(64, hex);
  r.config_digest = "sha256:" + std::string(64, 'c');
  r.size = 1234;
  r.pulled_at_ms = at;
  r.record_json = "{}";
  return r;
}

}  // namespace

TEST_CASE("store: images are kept, replaced by reference and deleted", "[daemon][images]") {
  TempDir dir;
  auto store = Store::open(dir.path + "/nexus.db");
  REQUIRE(store);
  REQUIRE((*store)->put_image(row("docker.io/library/debian:12", 'a', 2)));
  REQUIRE((*store)->put_image(row("127.0.0.1:5000/x/y:v1", 'b', 1)));
  REQUIRE((*store)->put_image(row("docker.io/library/debian:12", 'd', 3)));  // re-pulled: replaced
  auto list = (*store)->list_images();
  REQUIRE(list);
  REQUIRE(list->size() == 2);
  CHECK((*list)[0].reference == "127.0.0.1:5000/x/y:v1");  // oldest pull first
  CHECK((*list)[1].manifest_digest == "sha256:" + std::string(64, 'd'));
  CHECK((*list)[1].size == 1234);
  CHECK(*(*store)->delete_image("127.0.0.1:5000/x/y:v1"));
  CHECK_FALSE(*(*store)->delete_image("127.0.0.1:5000/x/y:v1"));
  store->reset();
  auto again = Store::open(dir.path + "/nexus.db");  // survives a reopen
  REQUIRE(again);
  CHECK((*again)->list_images()->size() == 1);
}

TEST_CASE("images: find by reference, digest or prefix", "[daemon][images]") {
  TempDir dir;
  auto store = Store::open(dir.path + "/nexus.db");
  REQUIRE(store);
  REQUIRE((*store)->put_image(row("docker.io/library/debian:12", 'a', 1)));
  REQUIRE((*store)->put_image(row("docker.io/library/debian:bookworm", 'a', 2)));
  ImageRow other = row("127.0.0.1:5000/x/y:v1", 'b', 3);
  other.manifest_digest = "sha256:aaaaaaaaaaaa" + std::string(52, 'b');  // shares a 12-digit prefix
  REQUIRE((*store)->put_image(other));
  uv::Loop loop;
  ImageService images(loop, **store, ImageServiceOptions{dir.path, "", {}, 100000, 65536});

  auto by_ref = images.find("debian:12");  // completed the Docker way
  REQUIRE(by_ref);
  REQUIRE(by_ref->size() == 1);
  CHECK(by_ref->front().reference == "docker.io/library/debian:12");

  auto by_digest = images.find("sha256:" + std::string(64, 'a'));
  REQUIRE(by_digest);
  CHECK(by_digest->size() == 2);  // every name of that image
  auto by_prefix = images.find(std::string(16, 'a'));
  REQUIRE(by_prefix);
  CHECK(by_prefix->size() == 2);

  auto ambiguous = images.find("aaaaaaaaaaaa");
  REQUIRE_FALSE(ambiguous);
  CHECK(ambiguous.error().is(Errc::conflict));
  auto missing = images.find("sha256:" + std::string(64, 'e'));
  REQUIRE_FALSE(missing);
  CHECK(missing.error().is(Errc::not_found));
  auto unknown = images.find("no/such:tag");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().is(Errc::not_found));
  auto bad = images.find("Bad Reference");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().is(Errc::invalid_argument));

  Json j = images.to_json(by_ref->front());
  CHECK(j["rootfs"] == dir.path + "/images/" + std::string(64, 'a') + "/rootfs");
  CHECK(j["size"] == 1234);
}
