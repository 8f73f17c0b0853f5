// SPDX-License-Identifier: Apache-2.0
// Tests for the streaming multipart/form-data parser.
#include <catch.hpp>

#include <vector>

#include "guest-agent/multipart.hpp"

using namespace nexus;
using namespace nexus::agent;

namespace {

struct Part {
  PartInfo info;
  std::string data;
  bool ended = false;
};

struct Collector {
  std::vector<Part> parts;
  MultipartParser::Callbacks callbacks() {
    MultipartParser::Callbacks cb;
    cb.on_part_begin = [this](const PartInfo& p) -> Result<void> {
      parts.push_back(Part{p, {}, false});
      return {};
    };
    cb.on_part_data = [this](std::string_view d) -> Result<void> {
      parts.back().data.append(d);
      return {};
    };
    cb.on_part_end = [this]() -> Result<void> {
      parts.back().ended = true;
      return {};
    };
    return cb;
  }
};

std::string body_with(const std::string& boundary, const std::vector<std::pair<std::string, std::string>>& files) {
  std::string b = "preamble to ignore\r\n";
  for (const auto& [name, data] : files) {
    b += "--" + boundary + "\r\n";
    b += "Content-Disposition: form-data; name=\"file\"; filename=\"" + name + "\"\r\n";
    b += "Content-Type: application/octet-stream\r\n\r\n";
    b += data + "\r\n";
  }
  b += "--" + boundary + "--\r\nepilogue";
  return b;
}

}  // namespace

TEST_CASE("boundary extraction from Content-Type", "[multipart]") {
  CHECK(multipart_boundary("multipart/form-data; boundary=abc").value() == "abc");
  CHECK(multipart_boundary("Multipart/Form-Data; charset=x; boundary=\"a b:c\"").value() == "a b:c");
  CHECK_FALSE(multipart_boundary("multipart/form-data"));
  CHECK_FALSE(multipart_boundary("application/json; boundary=x"));
  CHECK_FALSE(multipart_boundary("multipart/form-data; boundary=" + std::string(71, 'x')));
}

TEST_CASE("content disposition parameters", "[multipart]") {
  auto p = parse_content_disposition("form-data; name=\"file\"; filename=\"/tmp/x/y z.txt\"");
  CHECK(p.name == "file");
  CHECK(p.filename == "/tmp/x/y z.txt");
  CHECK(p.has_filename);
  auto q = parse_content_disposition("form-data; name=field; filename=\"a\\\"b;c\"");
  CHECK(q.name == "field");
  CHECK(q.filename == "a\"b;c");
  CHECK_FALSE(parse_content_disposition("form-data; name=\"x\"").has_filename);
}

TEST_CASE("parts survive every split position", "[multipart]") {
  const std::string boundary = "----formdata-undici-0123456789";
  std::string binary;
  for (int i = 0; i < 600; ++i) binary += static_cast<char>(i * 7 % 256);
  binary += "\r\n--" + boundary.substr(0, 10);  // a near-miss of the delimiter in the data
  auto body = body_with(boundary, {{"/tmp/a.bin", binary}, {"b.txt", ""}, {"c", "hello\r\n"}});
  for (size_t split = 1; split < body.size(); split += (split < 80 ? 1 : 37)) {
    Collector c;
    MultipartParser parser(boundary, c.callbacks());
    REQUIRE(parser.feed(std::string_view(body).substr(0, split)));
    REQUIRE(parser.feed(std::string_view(body).substr(split)));
    REQUIRE(parser.finish());
    REQUIRE(c.parts.size() == 3);
    CHECK(c.parts[0].info.filename == "/tmp/a.bin");
    CHECK(c.parts[0].info.content_type == "application/octet-stream");
    CHECK(c.parts[0].data == binary);
    CHECK(c.parts[1].data.empty());
    CHECK(c.parts[2].data == "hello\r\n");
    for (const auto& p : c.parts) CHECK(p.ended);
  }
  // Byte by byte.
  Collector c;
  MultipartParser parser(boundary, c.callbacks());
  for (char ch : body) REQUIRE(parser.feed(std::string_view(&ch, 1)));
  REQUIRE(parser.finish());
  REQUIRE(c.parts.size() == 3);
  CHECK(c.parts[0].data == binary);
}

TEST_CASE("a body without the closing boundary fails", "[multipart]") {
  Collector c;
  MultipartParser parser("xyz", c.callbacks());
  REQUIRE(parser.feed("--xyz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\ndata"));
  CHECK_FALSE(parser.finish());

  Collector none;
  MultipartParser p2("xyz", none.callbacks());
  REQUIRE(p2.feed("no boundary anywhere in this body"));
  CHECK_FALSE(p2.finish());
  CHECK(none.parts.empty());
}

TEST_CASE("huge part headers are rejected", "[multipart]") {
  Collector c;
  MultipartParser parser("b", c.callbacks(), 1024);
  REQUIRE(parser.feed("--b\r\n"));
  std::string header = "X-Long: " + std::string(4096, 'a');
  auto r = parser.feed(header);
  REQUIRE_FALSE(r);
  CHECK(r.error().is(Errc::too_large));
  CHECK_FALSE(parser.feed("more"));
}

TEST_CASE("malformed boundary lines and callback errors stop parsing", "[multipart]") {
  Collector c;
  MultipartParser parser("b", c.callbacks());
  CHECK_FALSE(parser.feed("--bXX\r\n\r\n"));

  MultipartParser::Callbacks cb;
  cb.on_part_begin = [](const PartInfo&) -> Result<void> { return fail(Errc::invalid_argument, "no"); };
  MultipartParser p2("b", cb);
  auto r = p2.feed("--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n--b--");
  REQUIRE_FALSE(r);
  CHECK(r.error().message() == "no");
}

TEST_CASE("the part count is limited", "[multipart]") {
  Collector c;
  MultipartParser parser("b", c.callbacks(), 1024, 2);
  std::string body;
  for (int i = 0; i < 3; ++i) body += "--b\r\n\r\nx\r\n";
  body += "--b--";
  CHECK_FALSE(parser.feed(body));
}
