// SPDX-License-Identifier: Apache-2.0
// References, digests and platforms.
#include <catch.hpp>

#include "rootfs/oci/digest.hpp"
#include "rootfs/oci/platform.hpp"
#include "rootfs/oci/reference.hpp"

using namespace nexus;
using namespace nexus::oci;

namespace {

const std::string kHex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::string error_of(std::string_view text) {
  auto r = parse_reference(text);
  REQUIRE_FALSE(r);
  CHECK(r.error().is(Errc::invalid_argument));
  return r.error().message();
}

}  // namespace

TEST_CASE("digests parse strictly and hash in pieces", "[digest]") {
  auto d = parse_digest("sha256:" + kHex);
  REQUIRE(d);
  CHECK(d->hex() == kHex);
  CHECK(d->str() == "sha256:" + kHex);
  CHECK(sha256_of("") == *d);
  Sha256 h;
  h.update("hello ");
  h.update("world");
  CHECK(h.finish() == sha256_of("hello world"));
  CHECK(sha256_of("hello world").hex() == "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");

  CHECK(parse_digest(kHex).error().message().find("no algorithm") != std::string::npos);
  CHECK(parse_digest("sha512:" + kHex).error().message().find("sha512") != std::string::npos);
  CHECK(parse_digest("sha256:" + kHex.substr(1)).error().message().find("63 hex") != std::string::npos);
  std::string upper = kHex;
  upper[0] = 'E';
  CHECK(parse_digest("sha256:" + upper).error().message().find("lowercase") != std::string::npos);
  CHECK_FALSE(parse_digest("sha256:../../../../etc/passwd/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

TEST_CASE("references get Docker Hub's defaults", "[reference]") {
  auto r = parse_reference("debian");
  REQUIRE(r);
  CHECK(r->registry == "docker.io");
  CHECK(r->repository == "library/debian");
  CHECK(r->tag == "latest");
  CHECK(r->api_host() == "registry-1.docker.io");
  CHECK(r->str() == "docker.io/library/debian:latest");

  r = parse_reference("bitnami/redis:7.2");
  REQUIRE(r);
  CHECK(r->repository == "bitnami/redis");
  CHECK(r->tag == "7.2");

  r = parse_reference("index.docker.io/library/alpine:3");
  REQUIRE(r);
  CHECK(r->registry == "docker.io");
}

TEST_CASE("references with hosts, ports, tags and digests", "[reference]") {
  auto r = parse_reference("127.0.0.1:5000/team/app/web:v1.2-rc_3");
  REQUIRE(r);
  CHECK(r->registry == "127.0.0.1:5000");
  CHECK(r->repository == "team/app/web");
  CHECK(r->tag == "v1.2-rc_3");
  CHECK(r->manifest_ref() == "v1.2-rc_3");
  CHECK(r->api_host() == "127.0.0.1:5000");

  r = parse_reference("localhost/app@sha256:" + kHex);
  REQUIRE(r);
  CHECK(r->registry == "localhost");
  CHECK(r->tag.empty());
  CHECK(r->manifest_ref() == "sha256:" + kHex);

  r = parse_reference("ghcr.io/org/app:1@sha256:" + kHex);
  REQUIRE(r);
  CHECK(r->tag == "1");
  CHECK(r->digest);
  CHECK(r->manifest_ref() == "sha256:" + kHex);
  CHECK(r->str() == "ghcr.io/org/app:1@sha256:" + kHex);

  r = parse_reference("[::1]:5000/a__b.c-d:x");
  REQUIRE(r);
  CHECK(r->registry == "[::1]:5000");
  CHECK(r->repository == "a__b.c-d");
}

TEST_CASE("bad references say what is wrong", "[reference]") {
  CHECK(error_of("").find("empty") != std::string::npos);
  CHECK(error_of("Debian").find("lowercase") != std::string::npos);
  CHECK(error_of("ghcr.io/org//app").find("empty path component") != std::string::npos);
  CHECK(error_of("app:-bad").find("tag") != std::string::npos);
  CHECK(error_of("app:" + std::string(129, 'a')).find("tag") != std::string::npos);
  CHECK(error_of("app@sha256:abc").find("64") != std::string::npos);
  CHECK(error_of("bad_host-.com:5000/app").find("registry host") != std::string::npos);
  CHECK(error_of("host:99999x/app").find("registry host") != std::string::npos);
  CHECK(error_of("ghcr.io/").find("no repository") != std::string::npos);
  CHECK(error_of("a/-b").find("'-b'") != std::string::npos);
  CHECK(error_of("example.com/" + std::string(300, 'a')).find("longer than") != std::string::npos);
}

TEST_CASE("loopback hosts", "[reference]") {
  CHECK(is_loopback_host("localhost:5000"));
  CHECK(is_loopback_host("127.0.0.1"));
  CHECK(is_loopback_host("127.1.2.3:80"));
  CHECK(is_loopback_host("[::1]:5000"));
  CHECK_FALSE(is_loopback_host("ghcr.io"));
  CHECK_FALSE(is_loopback_host("127example.com"));
  CHECK_FALSE(is_loopback_host("10.0.0.1:5000"));
}

TEST_CASE("platforms parse and normalise", "[platform]") {
  auto p = parse_platform("linux/x86_64");
  REQUIRE(p);
  CHECK(p->str() == "linux/amd64");
  p = parse_platform("linux/aarch64/v8");
  REQUIRE(p);
  CHECK(p->str() == "linux/arm64");
  p = parse_platform("linux/arm/v7");
  REQUIRE(p);
  CHECK(p->variant == "v7");
  CHECK_FALSE(parse_platform("linux"));
  CHECK_FALSE(parse_platform("linux//v7"));
  CHECK_FALSE(parse_platform("Linux/amd64"));
  CHECK(platform_matches({"linux", "arm64", "v8"}, {"linux", "aarch64", ""}));
  CHECK_FALSE(platform_matches({"linux", "arm", "v7"}, {"linux", "arm", "v6"}));
  CHECK(host_platform().os == "linux");
}
