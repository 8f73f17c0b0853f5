// SPDX-License-Identifier: Apache-2.0
// Tests for the image pull progress: bars, rates, ETAs, per-layer state from the events.
#include <catch.hpp>

#include "cli/progress_bars.hpp"
#include "cli/output.hpp"

using namespace nexus;
using namespace nexus::cli;

namespace {
const std::string kA = "sha256:aaaaaaaaaaaa0000000000000000000000000000000000000000000000000000";
const std::string kB = "sha256:bbbbbbbbbbbb0000000000000000000000000000000000000000000000000000";

Json resolved() {
  return Json{{"type", "resolved"}, {"reference", "r:1"}, {"manifest", "sha256:m"}, {"size", 3000},
              {"layers", Json::array({{{"digest", kA}, {"size", 1000}}, {{"digest", kB}, {"size", 2000}}})}};
}
Json progress(const std::string& d, const char* state, uint64_t done, uint64_t total) {
  return Json{{"type", "progress"}, {"kind", "layer"}, {"digest", d}, {"state", state}, {"done", done}, {"total", total}};
}
}  // namespace

TEST_CASE("progress: bar, rate, eta, digest", "[cli][progress]") {
  CHECK(format_bar(0, 100, 10) == "[>         ]");
  CHECK(format_bar(50, 100, 10) == "[=====>    ]");
  CHECK(format_bar(100, 100, 10) == "[==========]");
  CHECK(format_bar(500, 100, 4) == "[====]");  // never past full
  CHECK(format_bar(5, 0, 10).empty());         // unknown total
  CHECK(format_rate(512) == "512 B/s");
  CHECK(format_rate(2'300'000) == "2.3 MB/s");
  CHECK(format_eta(6.2) == "7s");
  CHECK(format_eta(65) == "1m05s");
  CHECK(format_eta(7380) == "2h03m");
  CHECK(format_eta(-1) == "-");
  CHECK(short_digest(kA) == "aaaaaaaaaaaa");
  CHECK(short_digest("abc") == "abc");
}

TEST_CASE("progress: layers from the resolved event, plain lines on state changes only", "[cli][progress]") {
  PullProgress p;
  auto lines = p.update(resolved(), 0);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == "r:1: 2 layers (3.0 kB), manifest sha256:m");
  REQUIRE(p.layers().size() == 2);
  CHECK(p.layers()[1].total == 2000);

  CHECK(p.update(progress(kA, "started", 0, 1000), 0) == std::vector<std::string>{"aaaaaaaaaaaa: Downloading 1.0 kB"});
  CHECK(p.update(progress(kA, "running", 500, 1000), 1000).empty());  // no line for bytes
  CHECK(p.update(progress(kB, "cached", 2000, 2000), 1000) == std::vector<std::string>{"bbbbbbbbbbbb: Already exists 2.0 kB"});

  auto bars = p.render(0, 1000);
  REQUIRE(bars.size() == 2);
  CHECK(bars[0].find("Downloading") != std::string::npos);
  CHECK(bars[0].find("500 B / 1.0 kB") != std::string::npos);
  CHECK(bars[0].find("500 B/s") != std::string::npos);  // 500 bytes in one second
  CHECK(bars[0].find("ETA 1s") != std::string::npos);
  CHECK(bars[1].find("Already exists") != std::string::npos);

  CHECK(p.update(progress(kA, "done", 1000, 1000), 2000) == std::vector<std::string>{"aaaaaaaaaaaa: Downloaded 1.0 kB"});
  Json unpack = {{"type", "unpack"}, {"layer", 0}, {"layers", 2}, {"digest", kA}, {"done", 0}, {"total", 1000}};
  CHECK(p.update(unpack, 2000) == std::vector<std::string>{"aaaaaaaaaaaa: Unpacking"});
  unpack["done"] = 1000;
  CHECK(p.update(unpack, 2100) == std::vector<std::string>{"aaaaaaaaaaaa: Pull complete"});
}

TEST_CASE("progress: lines fit the terminal; odd events are ignored", "[cli][progress]") {
  PullProgress p;
  p.update(resolved(), 0);
  p.update(progress(kA, "running", 10, 1000), 0);  // running before started still counts
  CHECK(p.layers()[0].state == "downloading");
  for (const auto& l : p.render(30, 5000)) CHECK(display_width(l) <= 29);
  CHECK(p.update(Json("not an object"), 0).empty());
  CHECK(p.update(Json{{"type", "progress"}, {"kind", "layer"}, {"digest", 5}}, 0).size() <= 1);
}
