// SPDX-License-Identifier: Apache-2.0
// The SNI reader over real ClientHellos made by OpenSSL in memory, then cut, split into
// several records, inflated and mangled.
#include <catch.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <random>
#include <string>

#include "net/egress/client_hello.hpp"

using namespace nexus::net::egress;
using Status = ClientHelloInfo::Status;

namespace {

// What a TLS client sends first: OpenSSL's real ClientHello, read from a memory BIO.
std::string client_hello(const char* sni, int max_version = TLS1_3_VERSION) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_max_proto_version(ctx, max_version);
  SSL* ssl = SSL_new(ctx);
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, rbio, wbio);
  if (sni) SSL_set_tlsext_host_name(ssl, sni);
  SSL_set_connect_state(ssl);
  (void)SSL_do_handshake(ssl);  // wants to read the server's answer
  char* data = nullptr;
  long n = BIO_get_mem_data(wbio, &data);
  std::string out(data, static_cast<size_t>(n));
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return out;
}

// Re-frame one record's handshake bytes into records of at most `frag` bytes.
std::string split_records(const std::string& rec, size_t frag) {
  std::string body = rec.substr(5), out;
  for (size_t i = 0; i < body.size(); i += frag) {
    std::string piece = body.substr(i, frag);
    out += '\x16';
    out += '\x03';
    out += '\x01';
    out += static_cast<char>(piece.size() >> 8);
    out += static_cast<char>(piece.size() & 0xff);
    out += piece;
  }
  return out;
}

}  // namespace

TEST_CASE("SNI from a real ClientHello, TLS 1.3 and 1.2", "[sni]") {
  for (int v : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    std::string hello = client_hello("API.Example.COM", v);
    auto r = parse_client_hello(hello);
    REQUIRE(r.status == Status::ok);
    CHECK(r.sni == "api.example.com");
    CHECK(r.consumed == hello.size());
  }
}

TEST_CASE("a ClientHello without SNI is complete with an empty name", "[sni]") {
  auto r = parse_client_hello(client_hello(nullptr));
  REQUIRE(r.status == Status::ok);
  CHECK(r.sni.empty());
}

TEST_CASE("every prefix of a ClientHello asks for more, never for a verdict", "[sni]") {
  std::string hello = client_hello("allowed.test");
  for (size_t n = 0; n < hello.size(); ++n) {
    auto r = parse_client_hello(std::string_view(hello).substr(0, n));
    INFO(n);
    REQUIRE(r.status == Status::need_more);
  }
}

TEST_CASE("a ClientHello split over several records", "[sni]") {
  std::string hello = client_hello("split.example.org");
  for (size_t frag : {1u, 7u, 100u, 512u}) {
    std::string multi = split_records(hello, frag);
    auto r = parse_client_hello(multi);
    INFO(frag);
    REQUIRE(r.status == Status::ok);
    CHECK(r.sni == "split.example.org");
    for (size_t n = 0; n + 1 < multi.size(); n += 13)
      REQUIRE(parse_client_hello(std::string_view(multi).substr(0, n)).status == Status::need_more);
  }
}

TEST_CASE("oversized, garbage and broken ClientHellos", "[sni]") {
  // A handshake header claiming 16 MiB.
  std::string huge = std::string("\x16\x03\x01\x00\x04\x01\xff\xff\xff", 9);
  CHECK(parse_client_hello(huge).status == Status::too_large);
  CHECK(parse_client_hello("GET / HTTP/1.1\r\nHost: a\r\n\r\n").status == Status::not_tls);
  CHECK(parse_client_hello(std::string("\x17\x03\x03\x00\x10", 5) + std::string(16, 'x')).status == Status::not_tls);
  // Not a ClientHello (a ServerHello type byte).
  std::string hello = client_hello("x.test");
  std::string wrong = hello;
  wrong[5] = 2;
  CHECK(parse_client_hello(wrong).status == Status::malformed);
  // The cipher suites length made to point past the end.
  std::string bad_len = hello;
  bad_len[5 + 4 + 2 + 32 + 1 + static_cast<uint8_t>(hello[5 + 4 + 2 + 32])] ^= 0x7f;
  CHECK(parse_client_hello(bad_len).status == Status::malformed);
  // A zero-length record.
  CHECK(parse_client_hello(std::string("\x16\x03\x01\x00\x00", 5)).status == Status::malformed);
  // Random bytes after a valid record header never crash and never report ok with a name.
  std::mt19937 rng(42);
  for (int i = 0; i < 2000; ++i) {
    std::string m = hello;
    for (int k = 0; k < 4; ++k) m[5 + rng() % (m.size() - 5)] = static_cast<char>(rng());
    auto r = parse_client_hello(m);
    if (r.status == Status::ok && !r.sni.empty()) CHECK(r.sni.find_first_of(" /\\") == std::string::npos);
  }
}
