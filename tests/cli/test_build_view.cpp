// SPDX-License-Identifier: Apache-2.0
// The live build view's model: events in, a screen (or plain lines) out.
#include <catch.hpp>

#include "cli/build_view.hpp"

using namespace nexus;
using namespace nexus::cli;

namespace {

Json ev(const char* text) { return Json::parse(text); }

BuildView started() {
  BuildView v;
  v.update(ev(R"({"type":"build","build_id":"bld_1","template":"data-sci","steps":[
    {"index":1,"text":"FROM 127.0.0.1:5000/py:3"},{"index":2,"text":"RUN pip install numpy"},
    {"index":3,"text":"COPY app /app"}]})"), 0);
  return v;
}

bool any_contains(const std::vector<std::string>& lines, const std::string& needle) {
  for (const auto& l : lines)
    if (l.find(needle) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("build view: the checklist follows the step events", "[cli][build_view]") {
  BuildView v = started();
  auto lines = v.update(ev(R"({"type":"step","index":1,"state":"running"})"), 100);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == "[1/3] running FROM 127.0.0.1:5000/py:3");
  v.update(ev(R"({"type":"step","index":1,"state":"done","elapsed_ms":1500})"), 1600);
  v.update(ev(R"({"type":"step","index":2,"state":"running"})"), 1600);
  auto screen = v.render(80, 24, 4100);
  REQUIRE(screen.size() == 24);
  CHECK_THAT(screen[0], Catch::Contains("template data-sci") && Catch::Contains("bld_1") &&
                            Catch::Contains("1/3 steps") && Catch::Contains("[building]"));
  CHECK(screen[2] == " [x]  1. FROM 127.0.0.1:5000/py:3  (1.5s)");
  CHECK(screen[3] == " [>]  2. RUN pip install numpy  (2.5s)");  // running: our own clock
  CHECK(screen[4] == " [ ]  3. COPY app /app");
  CHECK_FALSE(v.finished());
}

TEST_CASE("build view: layer bars with the download speed", "[cli][build_view]") {
  BuildView v = started();
  v.update(ev(R"({"type":"resolved","reference":"r","manifest":"sha256:m","config":"sha256:c",
    "layers":[{"digest":"sha256:aaaaaaaaaaaa11","size":2000000}],"size":2000000})"), 0);
  v.update(ev(R"({"type":"progress","kind":"layer","digest":"sha256:aaaaaaaaaaaa11","state":"started","done":0,"total":2000000})"), 0);
  v.update(ev(R"({"type":"progress","kind":"layer","digest":"sha256:aaaaaaaaaaaa11","state":"running","done":1000000,"total":2000000})"), 1000);
  auto screen = v.render(80, 24, 1000);
  CHECK(any_contains(screen, "layers: 1.0 MB of 2.0 MB"));
  CHECK(any_contains(screen, "1.0 MB/s"));
  CHECK(any_contains(screen, "aaaaaaaaaaaa"));
}

TEST_CASE("build view: the log tail fills the rest, newest last", "[cli][build_view]") {
  BuildView v = started();
  for (int i = 0; i < 50; ++i) v.update(Json{{"type", "log"}, {"step", 2}, {"line", "line " + std::to_string(i)}}, 0);
  auto screen = v.render(60, 12, 0);
  REQUIRE(screen.size() == 12);
  CHECK(screen[11] == " line 49");
  CHECK_FALSE(any_contains(screen, "line 40"));  // only what fits
  CHECK(any_contains(screen, "- log "));
}

TEST_CASE("build view: every line fits the width, escapes are neutralised", "[cli][build_view]") {
  BuildView v = started();
  v.update(Json{{"type", "log"}, {"step", 2}, {"line", "\x1b[2Jclear me " + std::string(300, 'x')}}, 0);
  v.update(Json{{"type", "log"}, {"step", 2}, {"line", "naïve ünïcode"}}, 0);
  for (int cols : {20, 33, 80}) {
    auto screen = v.render(cols, 20, 0);
    for (const auto& l : screen) {
      CHECK(l.find('\x1b') == std::string::npos);
      size_t columns = 0;
      for (unsigned char c : l) columns += (c & 0xC0) != 0x80;
      CHECK(columns <= static_cast<size_t>(cols));
    }
  }
  CHECK(any_contains(v.render(80, 20, 0), " naïve ünïcode"));
}

TEST_CASE("build view: a small terminal keeps the header and steps first", "[cli][build_view]") {
  BuildView v = started();
  for (int i = 0; i < 5; ++i) v.update(Json{{"type", "log"}, {"step", 2}, {"line", "x"}}, 0);
  auto screen = v.render(40, 4, 0);
  REQUIRE(screen.size() == 4);
  CHECK_THAT(screen[0], Catch::StartsWith("nexus: template data-sci"));
  CHECK_THAT(screen[3], Catch::Contains("2. RUN"));
}

TEST_CASE("build view: the outcome", "[cli][build_view]") {
  BuildView ok = started();
  auto lines = ok.update(ev(R"({"type":"done","template":{"name":"data-sci"}})"), 5000);
  CHECK(ok.finished());
  CHECK(ok.succeeded());
  CHECK(lines == std::vector<std::string>{"Built template data-sci in 5.0s"});
  CHECK_THAT(ok.render(80, 5, 9000)[0], Catch::Contains("5.0s") && Catch::Contains("[built]"));  // the clock stops

  BuildView bad = started();
  bad.update(ev(R"({"type":"step","index":2,"state":"failed","elapsed_ms":20})"), 10);
  lines = bad.update(ev(R"({"type":"error","code":"failed","message":"step 2 (line 3): RUN exited 1"})"), 20);
  CHECK(bad.finished());
  CHECK_FALSE(bad.succeeded());
  CHECK(lines == std::vector<std::string>{"Build failed: step 2 (line 3): RUN exited 1"});
  auto screen = bad.render(80, 10, 20);
  CHECK(screen[3] == " [!]  2. RUN pip install numpy  (0.0s)");
  CHECK(any_contains(screen, " error: step 2 (line 3): RUN exited 1"));
}

TEST_CASE("build view: hostile events are bounded or ignored", "[cli][build_view]") {
  BuildView v;
  v.update(ev(R"({"type":"step","index":99999999,"state":"running"})"), 0);
  v.update(ev(R"({"type":"step","index":-1,"state":"running"})"), 0);
  v.update(ev(R"({"type":"step","index":"2"})"), 0);
  v.update(ev(R"([1,2,3])"), 0);
  CHECK(v.steps().empty());
  for (int i = 0; i < 1000; ++i) v.update(Json{{"type", "log"}, {"line", "l"}}, 0);
  CHECK(v.render(80, 2000, 0).size() == 2000);  // the tail keeps at most kLogLines
  size_t logged = 0;
  for (const auto& l : v.render(80, 2000, 0)) logged += l == " l";
  CHECK(logged == BuildView::kLogLines);
}
