// SPDX-License-Identifier: Apache-2.0
// WWW-Authenticate parsing, token replies, the credentials file, retry decisions.
#include <catch.hpp>

#include "rootfs/oci/auth.hpp"
#include "rootfs/oci/http_transport.hpp"
#include "rootfs/oci/registry_client.hpp"

using namespace nexus;
using namespace nexus::oci;

TEST_CASE("Bearer challenges", "[auth]") {
  auto c = parse_www_authenticate(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/debian:pull")");
  REQUIRE(c);
  REQUIRE(c->size() == 1);
  CHECK((*c)[0].scheme == "bearer");
  CHECK((*c)[0].param("realm") == "https://auth.docker.io/token");
  CHECK((*c)[0].param("service") == "registry.docker.io");
  CHECK((*c)[0].param("scope") == "repository:library/debian:pull");
  CHECK((*c)[0].param("missing").empty());

  c = parse_www_authenticate(
      R"(Bearer realm="http://x/t", error="insufficient_scope", scope="repository:a:pull,push")");
  REQUIRE(c);
  CHECK((*c)[0].param("scope") == "repository:a:pull,push");
  CHECK((*c)[0].param("error") == "insufficient_scope");
}

TEST_CASE("several challenges, Basic, quoting", "[auth]") {
  auto c = parse_www_authenticate(R"(Basic realm="Registry Realm", Bearer realm="https://t/x",service=reg)");
  REQUIRE(c);
  REQUIRE(c->size() == 2);
  CHECK((*c)[0].scheme == "basic");
  CHECK((*c)[0].param("realm") == "Registry Realm");
  CHECK((*c)[1].scheme == "bearer");
  CHECK((*c)[1].param("service") == "reg");

  c = parse_www_authenticate(R"(BASIC Realm="a \"quoted\" realm")");
  REQUIRE(c);
  CHECK((*c)[0].scheme == "basic");
  CHECK((*c)[0].param("realm") == "a \"quoted\" realm");

  CHECK_FALSE(parse_www_authenticate(""));
  CHECK_FALSE(parse_www_authenticate(R"(Bearer realm="unterminated)"));
  CHECK_FALSE(parse_www_authenticate("@@@"));
}

TEST_CASE("token replies and token URLs", "[auth]") {
  CHECK(parse_token_reply(R"({"token":"abc","expires_in":300})").value() == "abc");
  CHECK(parse_token_reply(R"({"access_token":"xyz"})").value() == "xyz");
  CHECK(parse_token_reply(R"({"token":"","access_token":"xyz"})").value() == "xyz");
  CHECK_FALSE(parse_token_reply(R"({"expires_in":300})"));
  CHECK_FALSE(parse_token_reply(R"({"token":"a\r\nX-Evil: 1"})"));
  CHECK_FALSE(parse_token_reply("not json"));

  CHECK(token_url("https://auth.example/token", "reg.example", "repository:a/b:pull") ==
        "https://auth.example/token?service=reg.example&scope=repository%3Aa%2Fb%3Apull");
  CHECK(token_url("https://auth.example/token?x=1", "", "s") == "https://auth.example/token?x=1&scope=s");
}

TEST_CASE("credentials file", "[auth]") {
  auto c = Credentials::parse(R"({"registries": {"127.0.0.1:5000": {"username": "u", "password": "p"},
                                                 "index.docker.io": {"username": "hub", "password": "q"}}})");
  REQUIRE(c);
  auto u = c->find("127.0.0.1:5000");
  REQUIRE(u);
  CHECK(u->username == "u");
  CHECK(u->password == "p");
  CHECK(c->find("docker.io")->username == "hub");
  CHECK_FALSE(c->find("ghcr.io"));

  auto bad = Credentials::parse(
      R"({"registries": {"x": {"username": "u", "password": "very-secret"}, "y": {"username": 1}}})");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message().find("'y'") != std::string::npos);
  CHECK(bad.error().message().find("very-secret") == std::string::npos);
  CHECK_FALSE(Credentials::parse(R"({"auths": {}})"));
  auto missing = Credentials::load("/nonexistent/creds.json");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().is(Errc::not_found));
}

TEST_CASE("what is retried, and how long to wait", "[retry]") {
  for (long s : {408L, 429L, 500L, 502L, 503L, 504L}) CHECK(transient_status(s));
  for (long s : {200L, 206L, 400L, 401L, 403L, 404L, 416L, 501L, 505L}) CHECK_FALSE(transient_status(s));
  RetryPolicy p{5, std::chrono::milliseconds(100), std::chrono::milliseconds(1000)};
  CHECK(backoff_delay(p, 0).count() > 75);
  CHECK(backoff_delay(p, 0).count() <= 100);
  CHECK(backoff_delay(p, 2).count() > 300);
  CHECK(backoff_delay(p, 2).count() <= 400);
  CHECK(backoff_delay(p, 30).count() <= 1000);
  CHECK(backoff_delay(p, 30).count() > 750);
}

TEST_CASE("registry error documents are summarised", "[retry]") {
  CHECK(
      registry_error_summary(R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]})") ==
      "MANIFEST_UNKNOWN: manifest unknown");
  CHECK(registry_error_summary("plain\ntext") == "plain text");
  CHECK(registry_error_summary(std::string(1000, 'x')).size() <= 300);
}
