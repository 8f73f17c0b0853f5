// SPDX-License-Identifier: Apache-2.0
// Request heads: the first head (Host), limits, and the request stream that injects headers
// into every request of a keep-alive connection while bodies (chunked too) pass unchanged.
#include <catch.hpp>

#include <random>

#include "net/egress/http_head.hpp"

using namespace nexus;
using namespace nexus::net::egress;
using Status = HeadParse::Status;

TEST_CASE("the first head gives method, URL and Host without the port", "[http]") {
  std::string req = "GET /simple?q=1 HTTP/1.1\r\nHost: Allowed.Test:8080\r\nUser-Agent: t\r\n\r\nrest";
  auto r = parse_request_head(req);
  REQUIRE(r.status == Status::ok);
  CHECK(r.head.method == "GET");
  CHECK(r.head.url == "/simple?q=1");
  CHECK(r.head.host() == "Allowed.Test");
  CHECK(r.head.head_bytes == req.size() - 4);
  for (size_t n = 0; n < req.size() - 4; ++n)
    REQUIRE(parse_request_head(std::string_view(req).substr(0, n)).status == Status::need_more);
  auto v6 = parse_request_head("GET / HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n");
  REQUIRE(v6.status == Status::ok);
  CHECK(v6.head.host() == "[2001:db8::1]");
  auto none = parse_request_head("GET / HTTP/1.0\r\n\r\n");
  REQUIRE(none.status == Status::ok);
  CHECK(none.head.host().empty());
}

TEST_CASE("garbage is a bad request and an endless head is too large", "[http]") {
  CHECK(parse_request_head(std::string("\x16\x03\x01\x02\x00", 5)).status == Status::bad_request);
  CHECK(parse_request_head("HELLO WORLD\r\n\r\n").status == Status::bad_request);
  std::string endless = "GET / HTTP/1.1\r\nHost: a\r\n";
  while (endless.size() < kMaxRequestHead + 100) endless += "X-Pad: aaaaaaaaaaaaaaaaaaaaaaaa\r\n";
  auto r = parse_request_head(endless);
  CHECK(r.status == Status::too_large);
  std::string many = "GET / HTTP/1.1\r\n";
  for (size_t i = 0; i <= kMaxHeaders; ++i) many += "A: b\r\n";
  CHECK(parse_request_head(many + "\r\n").status == Status::too_large);
}

TEST_CASE("headers are injected into every request of a keep-alive connection", "[http][inject]") {
  RequestStream s("allowed.test", {{"Authorization", "Bearer s3cret"}});
  std::string in =
      "POST /a HTTP/1.1\r\nHost: allowed.test\r\nauthorization: sandbox-value\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n0\r\n\r\n"
      "GET /b HTTP/1.1\r\nHost: allowed.test\r\n\r\n"
      "PUT /c HTTP/1.1\r\nHost: allowed.test\r\nContent-Length: 27\r\n\r\nGET /x HTTP/1.1\r\nHost: b\r\n";
  // Byte by byte and in one piece must give the same output.
  for (size_t step : {in.size(), size_t{1}, size_t{7}}) {
    RequestStream st("allowed.test", {{"Authorization", "Bearer s3cret"}});
    std::string out;
    for (size_t i = 0; i < in.size(); i += step) REQUIRE(st.feed(std::string_view(in).substr(i, step), out));
    INFO(step);
    CHECK(out ==
          "POST /a HTTP/1.1\r\nHost: allowed.test\r\nTransfer-Encoding: chunked\r\nAuthorization: Bearer s3cret\r\n\r\n"
          "5\r\nhello\r\n0\r\n\r\n"
          "GET /b HTTP/1.1\r\nHost: allowed.test\r\nAuthorization: Bearer s3cret\r\n\r\n"
          "PUT /c HTTP/1.1\r\nHost: allowed.test\r\nContent-Length: 27\r\nAuthorization: Bearer s3cret\r\n\r\n"
          "GET /x HTTP/1.1\r\nHost: b\r\n");
    CHECK(st.requests() == 3);
    CHECK(st.first_method() == "POST");
    CHECK(st.first_url() == "/a");
  }
  (void)s;
}

TEST_CASE("a later request naming another host ends the connection", "[http]") {
  RequestStream s("allowed.test", {});
  std::string out;
  REQUIRE(s.feed("GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n", out));
  std::string ok_out;
  REQUIRE(s.feed("GET / HTTP/1.1\r\nHost: Allowed.TEST.:80\r\n\r\n", ok_out));  // the same host
  out += ok_out;
  auto r = s.feed("GET / HTTP/1.1\r\nHost: internal.corp\r\n\r\n", out);
  REQUIRE_FALSE(r);
  CHECK(r.error().is(Errc::permission_denied));
  CHECK(out == "GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\nGET / HTTP/1.1\r\nHost: Allowed.TEST.:80\r\n\r\n");
}

TEST_CASE("the request stream bounds every head and rejects smuggling", "[http]") {
  RequestStream s("a", {});
  std::string out;
  REQUIRE(s.feed("GET / HTTP/1.1\r\nHost: a\r\n", out));
  bool failed = false;
  for (int i = 0; i < 2000 && !failed; ++i) {
    auto r = s.feed("X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", out);
    if (!r) {
      failed = true;
      INFO(r.error().message());
      CHECK(r.error().is(Errc::too_large));
    }
  }
  CHECK(failed);
  RequestStream cl("a", {});
  CHECK_FALSE(cl.feed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", out));
}

TEST_CASE("an upgrade passes the rest through unchanged", "[http]") {
  RequestStream s("a", {{"X-Key", "k"}});
  std::string out;
  REQUIRE(s.feed("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello GET", out));
  CHECK(out == "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nX-Key: k\r\n\r\n\x81\x05hello GET");
}

TEST_CASE("the first response's status", "[http]") {
  ResponseSniffer s;
  s.feed("HTTP/1.1 2");
  CHECK(s.status() == 0);
  s.feed("04 No Content\r\n\r\nHTTP/1.1 500 X\r\n\r\n");
  CHECK(s.status() == 204);
  ResponseSniffer cont;
  cont.feed("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
  CHECK(cont.status() == 201);
  ResponseSniffer g;
  g.feed("garbage");
  CHECK(g.status() == 0);
}

TEST_CASE("mangled request streams never crash and never grow past their input", "[http]") {
  const std::string base =
      "POST /a HTTP/1.1\r\nHost: h.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
      "GET /b HTTP/1.1\r\nHost: h.test\r\nContent-Length: 3\r\n\r\nabc";
  std::mt19937 rng(7);
  for (int i = 0; i < 3000; ++i) {
    std::string m = base;
    for (int k = 0; k < 3; ++k) m[rng() % m.size()] = static_cast<char>(rng());
    RequestStream s("h.test", {{"X-K", "v"}});
    std::string out;
    size_t pos = 0;
    while (pos < m.size()) {
      size_t n = 1 + rng() % 20;
      if (!s.feed(std::string_view(m).substr(pos, n), out)) break;
      pos += n;
    }
    // At most the input plus one injected header per request head.
    REQUIRE(out.size() <= m.size() + 2 * (sizeof("X-K: v\r\n") + 16));
    (void)parse_request_head(m);
  }
}
