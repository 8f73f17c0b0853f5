// SPDX-License-Identifier: Apache-2.0
// Tests for the daemon's Connect envelope decoder: the agent is untrusted.
#include <catch.hpp>

#include "daemon/command_api.hpp"
#include "daemon/connect_frames.hpp"

using namespace nexus;
using namespace nexus::daemon;

TEST_CASE("frames split at any byte boundary decode the same", "[connect]") {
  std::string stream = encode_connect_frame(R"({"event":{"start":{"pid":42}}})") +
                       encode_connect_frame("{}", 0x02);
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    ConnectFrameDecoder d;
    std::vector<ConnectFrame> out;
    REQUIRE(d.feed(std::string_view(stream).substr(0, cut), out));
    REQUIRE(d.feed(std::string_view(stream).substr(cut), out));
    REQUIRE(out.size() == 2);
    CHECK(out[0].payload == R"({"event":{"start":{"pid":42}}})");
    CHECK_FALSE(out[0].end_of_stream());
    CHECK(out[1].end_of_stream());
    CHECK(d.idle());
  }
}

TEST_CASE("hostile frames are refused", "[connect]") {
  ConnectFrameDecoder d(1024);
  std::vector<ConnectFrame> out;
  std::string huge("\x00\x7f\xff\xff\xff", 5);
  auto r = d.feed(huge, out);
  REQUIRE_FALSE(r);
  CHECK(r.error().is(Errc::protocol));
  CHECK_FALSE(d.feed("x", out));  // errors are sticky
  ConnectFrameDecoder c;
  auto compressed = c.feed(std::string("\x01\x00\x00\x00\x00", 5), out);
  CHECK_FALSE(compressed);
  ConnectFrameDecoder g;
  CHECK_FALSE(g.feed(std::string("\x80\x00\x00\x00\x00", 5), out));
}

TEST_CASE("run languages map to interpreters", "[run]") {
  CHECK(run_command_for("python", "print(1)")->cmd == "/usr/bin/python3");
  CHECK(run_command_for("javascript", "1")->args.at(0) == "-e");
  CHECK(run_command_for("bash", "echo")->cmd == "/bin/bash");
  auto bad = run_command_for("cobol", "x");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message().find("cobol") != std::string::npos);
}
