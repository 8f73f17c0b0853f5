// SPDX-License-Identifier: Apache-2.0
// pull() against real registries: Debian's docker-registry, open and with token auth, and a
// misbehaving proxy in front (registry_fixture.py). Exits 77 (skipped) when docker-registry,
// openssl or python3 is missing.
#define CATCH_CONFIG_RUNNER
#include <catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>

#include "../rootfs/test_util.hpp"
#include "fixture_process.hpp"
#include "rootfs/oci/media_types.hpp"
#include "rootfs/oci/pull.hpp"

using namespace nexus;
using namespace nexus::oci;
using nexus::rootfs::test::TempDir;

namespace {

const Json* g_info = nullptr;

std::string host(const char* which) { return (*g_info)[which].get<std::string>(); }
const Json& image(const std::string& name) { return (*g_info)["images"][name]; }
Digest digest(const Json& j) { return parse_digest(j.get<std::string>()).value(); }

PullOptions fast_options() {
  PullOptions o;
  o.retry = {4, std::chrono::milliseconds(10), std::chrono::milliseconds(100)};
  o.limits.stall_timeout_s = 10;
  return o;
}

Credentials good_credentials(const std::string& registry) {
  Credentials c;
  c.set(registry, {host("username"), host("password")});
  return c;
}

// The proxy's request log for one path.
std::vector<Json> requests_for(const std::string& path) {
  std::vector<Json> out;
  const Json stats = test::http_get_json(host("proxy"), "/_stats");
  for (const auto& r : stats["requests"])
    if (r["path"] == path) out.push_back(r);
  return out;
}

void check_record(const ImageRecord& rec, const Json& want, const ContentStore& store) {
  CHECK(rec.manifest_digest == digest(want["manifest"]));
  CHECK(rec.config_digest == digest(want["config"]));
  REQUIRE(rec.layers.size() == want["layers"].size());
  for (size_t i = 0; i < rec.layers.size(); ++i) {
    CHECK(rec.layers[i].digest == digest(want["layers"][i]));
    CHECK(rec.layers[i].size == want["sizes"][i].get<uint64_t>());
    CHECK(store.size(rec.layers[i].digest).value() == rec.layers[i].size);
  }
  for (const auto& d : rec.blobs()) CHECK(store.has(d));
}

struct Pulled {
  TempDir dir;
  ContentStore store = ContentStore::at(dir.path()).value();
  std::vector<BlobProgress> reports;
  Result<ImageRecord> pull(const std::string& ref, const PullOptions& o = fast_options()) {
    return oci::pull(ref, o, store, [this](const BlobProgress& p) { reports.push_back(p); });
  }
};

}  // namespace

TEST_CASE("a multi-layer OCI image", "[registry]") {
  Pulled p;
  auto rec = p.pull(host("registry") + "/test/multi:v1");
  REQUIRE(rec);
  check_record(*rec, image("test/multi:v1"), p.store);
  CHECK(rec->reference == host("registry") + "/test/multi:v1");
  CHECK(rec->manifest_media_type == media::kOciManifest);
  CHECK(rec->layers[0].media_type == media::kOciLayerGzip);
  CHECK(rec->config.env == std::vector<std::string>{"PATH=/usr/bin", "IMAGE=test/multi"});
  CHECK(rec->config.cmd == std::vector<std::string>{"/bin/sh"});
  CHECK(rec->config.working_dir == "/work");
  CHECK(rec->config.user == "1000");
  CHECK(rec->config.diff_ids.size() == 3);
  size_t layers_done = 0;
  for (const auto& r : p.reports)
    layers_done += r.kind == BlobProgress::Kind::layer && r.state == BlobProgress::State::done && r.done == r.total;
  CHECK(layers_done == 3);

  // The record survives JSON, and pulling again fetches no blob.
  auto back = image_record_from_json(image_record_to_json(*rec));
  REQUIRE(back);
  CHECK(back->blobs() == rec->blobs());
  p.reports.clear();
  auto again = p.pull(host("registry") + "/test/multi:v1");
  REQUIRE(again);
  for (const auto& r : p.reports)
    if (r.kind != BlobProgress::Kind::manifest) CHECK(r.state == BlobProgress::State::cached);

  // By digest, too.
  auto by_digest = p.pull(host("registry") + "/test/multi@" + image("test/multi:v1")["manifest"].get<std::string>());
  REQUIRE(by_digest);
  CHECK(by_digest->manifest_digest == rec->manifest_digest);
}

TEST_CASE("a Docker schema 2 image", "[registry]") {
  Pulled p;
  auto rec = p.pull(host("registry") + "/test/docker:v1");
  REQUIRE(rec);
  check_record(*rec, image("test/docker:v1"), p.store);
  CHECK(rec->manifest_media_type == media::kDockerManifest);
  CHECK(rec->layers[0].media_type == media::kDockerLayerGzip);
}

TEST_CASE("an index with two platforms", "[registry][platform]") {
  Pulled p;
  const Json& want = image("test/index:v1");
  auto rec = p.pull(host("registry") + "/test/index:v1");
  REQUIRE(rec);
  CHECK(rec->index_digest == digest(want["index"]));
  check_record(*rec, want["amd64"], p.store);
  CHECK(rec->config.platform.architecture == "amd64");

  PullOptions arm = fast_options();
  arm.platform = parse_platform("linux/arm64/v8").value();
  auto rec_arm = p.pull(host("registry") + "/test/index:v1", arm);
  REQUIRE(rec_arm);
  check_record(*rec_arm, want["arm64"], p.store);

  PullOptions s390x = fast_options();
  s390x.platform = {"linux", "s390x", ""};
  auto missing = p.pull(host("registry") + "/test/index:v1", s390x);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().is(Errc::not_found));
  CHECK(missing.error().message().find("no image for platform linux/s390x") != std::string::npos);
  CHECK(missing.error().message().find("linux/amd64, linux/arm64") != std::string::npos);

  // A single-platform image for another architecture is refused as clearly.
  auto single = p.pull(host("registry") + "/test/index:v1-arm64");
  REQUIRE_FALSE(single);
  CHECK(single.error().message().find("image for linux/arm64, not for linux/amd64") != std::string::npos);

  // gc with one image's blobs as the root set removes the other platform's.
  auto stats = p.store.gc(rec->blobs());
  REQUIRE(stats);
  CHECK(stats->blobs_removed == 3);  // arm64 manifest, config, layer
  for (const auto& d : rec->blobs()) CHECK(p.store.has(d));
  CHECK_FALSE(p.store.has(rec_arm->config_digest));
}

TEST_CASE("unknown tags and repositories are not_found, and not retried", "[registry]") {
  Pulled p;
  auto tag = p.pull(host("registry") + "/test/multi:nope");
  REQUIRE_FALSE(tag);
  CHECK(tag.error().is(Errc::not_found));
  CHECK(tag.error().message().find("MANIFEST_UNKNOWN") != std::string::npos);
  auto repo = p.pull(host("registry") + "/no/such/repo:v1");
  REQUIRE_FALSE(repo);
  CHECK(repo.error().is(Errc::not_found));

  auto via_proxy = p.pull(host("proxy") + "/plain/big:nope");
  REQUIRE_FALSE(via_proxy);
  CHECK(via_proxy.error().is(Errc::not_found));
  CHECK(requests_for("/v2/plain/big/manifests/nope").size() == 1);
}

TEST_CASE("a private repository behind Bearer token auth", "[registry][auth]") {
  Pulled p;
  const std::string ref = host("auth_registry") + "/private/img:v1";
  auto anonymous = p.pull(ref);
  REQUIRE_FALSE(anonymous);
  CHECK(anonymous.error().is(Errc::unauthenticated));
  CHECK(anonymous.error().message().find("no credentials configured") != std::string::npos);

  PullOptions wrong = fast_options();
  wrong.credentials.set(host("auth_registry"), {host("username"), "wrong-password"});
  auto refused = p.pull(ref, wrong);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().is(Errc::unauthenticated));
  CHECK(refused.error().message().find("refused the credentials") != std::string::npos);
  CHECK(refused.error().message().find("wrong-password") == std::string::npos);

  PullOptions good = fast_options();
  good.credentials = good_credentials(host("auth_registry"));
  auto rec = p.pull(ref, good);
  REQUIRE(rec);
  check_record(*rec, image("private/img:v1"), p.store);
  bool basic_sent = false;
  const Json stats = test::http_get_json(host("proxy"), "/_stats");
  for (const auto& t : stats["tokens"]) basic_sent |= t["scope"] == "repository:private/img:pull" && t["basic"] == true;
  CHECK(basic_sent);
}

TEST_CASE("HTTP Basic auth", "[registry][auth]") {
  Pulled p;
  const std::string ref = host("proxy") + "/basic/img:v1";
  auto anonymous = p.pull(ref);
  REQUIRE_FALSE(anonymous);
  CHECK(anonymous.error().is(Errc::unauthenticated));
  PullOptions good = fast_options();
  good.credentials = good_credentials(host("proxy"));
  auto rec = p.pull(ref, good);
  REQUIRE(rec);
  check_record(*rec, image("basic/img:v1"), p.store);
}

TEST_CASE("a blob whose content does not match its digest", "[registry]") {
  Pulled p;
  auto rec = p.pull(host("proxy") + "/tamper/img:v1");
  REQUIRE_FALSE(rec);
  CHECK(rec.error().is(Errc::protocol));
  CHECK(rec.error().message().find("digest mismatch") != std::string::npos);
  CHECK_FALSE(p.store.has(digest(image("tamper/img:v1")["config"])));
  CHECK(p.store.list().value().size() == 1);  // the manifest only
}

TEST_CASE("a download cut half-way resumes with a Range request", "[registry][resume]") {
  Pulled p;
  const Json& want = image("drop/big:v1");
  auto rec = p.pull(host("proxy") + "/drop/big:v1");
  REQUIRE(rec);
  check_record(*rec, want, p.store);
  auto log = requests_for("/v2/drop/big/blobs/" + want["layers"][0].get<std::string>());
  REQUIRE(log.size() == 2);
  CHECK(log[0]["cut"] == true);
  CHECK(log[1]["status"] == 206);
  CHECK(log[1]["range"].get<std::string>().rfind("bytes=", 0) == 0);
  CHECK(log[1]["range"] != "bytes=0-");
}

TEST_CASE("a cancelled pull keeps its partial download; the next one resumes it", "[registry][resume]") {
  Pulled p;
  const Json& want = image("plain/big:v1");
  std::atomic<bool> cancel{false};
  PullOptions o = fast_options();
  o.cancel = &cancel;
  auto stop_early = oci::pull(host("proxy") + "/plain/big:v1", o, p.store, [&](const BlobProgress& r) {
    if (r.kind == BlobProgress::Kind::layer && r.done > 0) cancel = true;
  });
  REQUIRE_FALSE(stop_early);
  CHECK(stop_early.error().errno_value() == ECANCELED);
  Digest layer = digest(want["layers"][0]);
  CHECK_FALSE(p.store.has(layer));
  struct stat st {};
  REQUIRE(::stat((p.dir.path() + "/blobs/ingest/" + layer.hex() + ".partial").c_str(), &st) == 0);
  CHECK(st.st_size > 0);

  auto rec = p.pull(host("proxy") + "/plain/big:v1");
  REQUIRE(rec);
  check_record(*rec, want, p.store);
  auto log = requests_for("/v2/plain/big/blobs/" + layer.str());
  REQUIRE(log.size() == 2);
  CHECK(log[1]["range"] == "bytes=" + std::to_string(st.st_size) + "-");
  CHECK(log[1]["status"] == 206);
}

TEST_CASE("503 and 429 are retried; retries run out as unavailable", "[registry][retry]") {
  Pulled p;
  const Json& want = image("busy/img:v1");
  auto rec = p.pull(host("proxy") + "/busy/img:v1");
  REQUIRE(rec);
  check_record(*rec, want, p.store);
  auto log = requests_for("/v2/busy/img/manifests/v1");
  REQUIRE(log.size() == 3);
  CHECK(log[0]["status"] == 503);
  CHECK(log[1]["status"] == 429);
  CHECK(log[2]["status"] == 200);

  auto down = p.pull(host("proxy") + "/down/img:v1");
  REQUIRE_FALSE(down);
  CHECK(down.error().is(Errc::unavailable));
  CHECK(down.error().message().find("503 4 times") != std::string::npos);
  CHECK(requests_for("/v2/down/img/manifests/v1").size() == 4);
}

TEST_CASE("nothing listens: connection errors are retried, then unavailable", "[registry][retry]") {
  Pulled p;
  auto rec = p.pull("127.0.0.1:1/test/multi:v1");
  REQUIRE_FALSE(rec);
  CHECK(rec.error().is(Errc::unavailable));
  CHECK(rec.error().message().find("giving up after 4 attempts") != std::string::npos);
}

int main(int argc, char** argv) {
  for (const char* tool : {"/usr/bin/docker-registry", "/usr/bin/openssl", "/usr/bin/python3"}) {
    if (::access(tool, X_OK) != 0) {
      std::printf("SKIP: %s is missing (Debian packages docker-registry, openssl, python3)\n", tool);
      return 77;
    }
  }
  TempDir work;
  std::unique_ptr<test::FixtureProcess> fixture;
  try {
    fixture = std::make_unique<test::FixtureProcess>("/usr/bin/python3", NEXUS_OCI_FIXTURE, work.path());
  } catch (const std::exception& e) {
    std::printf("FAIL: %s\n", e.what());
    return 1;
  }
  g_info = &fixture->info();
  return Catch::Session().run(argc, argv);
}
