// SPDX-License-Identifier: Apache-2.0
// The gateway CA (created once, key 0600, reused), leaf certificates per host, and TlsPipe
// sessions talking to each other in memory: the client verifies the leaf and the host name.
#include <catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "net/egress/tls.hpp"

using namespace nexus;
using namespace nexus::net::egress;

namespace {

std::string temp_dir() {
  char tmpl[] = "/tmp/nexus-egress-tls-XXXXXX";
  REQUIRE(::mkdtemp(tmpl));
  return tmpl;
}

// Runs both pipes until neither has anything to say; returns the first error.
Result<void> converse(TlsPipe& client, TlsPipe& server, std::string& at_client, std::string& at_server) {
  for (int i = 0; i < 20; ++i) {
    NEXUS_TRY(client.pump(at_client));
    std::string c2s = client.take_output();
    server.feed(c2s);
    NEXUS_TRY(server.pump(at_server));
    std::string s2c = server.take_output();
    client.feed(s2c);
    if (c2s.empty() && s2c.empty() && i > 2) break;
  }
  return {};
}

}  // namespace

TEST_CASE("the gateway CA is created once and reused", "[tls]") {
  const std::string top = temp_dir(), dir = top + "/state";
  auto a = CertAuthority::load_or_create(dir);
  REQUIRE(a);
  struct stat st {};
  REQUIRE(::stat((dir + "/ca.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK_THAT((*a)->certificate_pem(), Catch::StartsWith("-----BEGIN CERTIFICATE-----"));
  auto b = CertAuthority::load_or_create(dir);
  REQUIRE(b);
  CHECK((*b)->certificate_pem() == (*a)->certificate_pem());
  // Half a CA is an error, not a silent new one.
  ::unlink((dir + "/ca.crt").c_str());
  auto c = CertAuthority::load_or_create(dir);
  REQUIRE_FALSE(c);
  CHECK_THAT(c.error().message(), Catch::Contains("ca.key"));
  std::system(("rm -rf " + top).c_str());
}

TEST_CASE("a leaf for the host verifies against the CA; another name does not", "[tls]") {
  const std::string dir = temp_dir();
  auto ca = CertAuthority::load_or_create(dir + "/state");
  REQUIRE(ca);
  std::ofstream(dir + "/ca.crt") << (*ca)->certificate_pem();
  auto client_ctx = make_client_context(dir + "/ca.crt");
  REQUIRE(client_ctx);
  auto server_ctx = (*ca)->server_context("api.example.test");
  REQUIRE(server_ctx);
  auto again = (*ca)->server_context("api.example.test");
  CHECK(*again == *server_ctx);  // cached

  auto server = TlsPipe::server(*server_ctx);
  auto client = TlsPipe::client(client_ctx->get(), "api.example.test");
  REQUIRE(server);
  REQUIRE(client);
  (*client)->write("GET / HTTP/1.1\r\n\r\n");
  (*server)->write("HTTP/1.1 200 OK\r\n\r\n");
  std::string at_client, at_server;
  REQUIRE(converse(**client, **server, at_client, at_server));
  CHECK((*client)->handshake_done());
  CHECK(at_server == "GET / HTTP/1.1\r\n\r\n");
  CHECK(at_client == "HTTP/1.1 200 OK\r\n\r\n");

  // The same leaf presented for a different name fails verification, with a clear reason.
  auto server2 = TlsPipe::server(*server_ctx);
  auto wrong = TlsPipe::client(client_ctx->get(), "other.example.test");
  std::string x, y;
  auto r = converse(**wrong, **server2, x, y);
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message(), Catch::Contains("certificate verification failed"));

  // A client trusting only the system store does not trust the gateway CA.
  auto system_ctx = make_client_context("");
  REQUIRE(system_ctx);
  auto server3 = TlsPipe::server(*server_ctx);
  auto strict = TlsPipe::client(system_ctx->get(), "api.example.test");
  auto r2 = converse(**strict, **server3, x, y);
  CHECK_FALSE(r2);
  std::system(("rm -rf " + dir).c_str());
}
