// SPDX-License-Identifier: Apache-2.0
// Tests for human and JSON output: tables, times, sizes, exit statuses, --json shapes.
#include <catch.hpp>

#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "common/strings.hpp"

using namespace nexus;
using namespace nexus::cli;

TEST_CASE("tables: natural width, no trailing spaces", "[cli][output]") {
  std::vector<Column> cols = {{"ID", Align::left, false}, {"NAME"}, {"SIZE", Align::right}};
  std::vector<std::vector<Cell>> rows = {{{"sb_1"}, {"demo"}, {"12 MB"}},
                                         {{"sb_22"}, {"x"}, {"3 B"}}};
  CHECK(format_table(cols, rows, 0, false) ==
        "ID      NAME    SIZE\n"
        "sb_1    demo   12 MB\n"
        "sb_22   x        3 B\n");
}

TEST_CASE("tables: shrink the widest truncatable column to the width", "[cli][output]") {
  std::vector<Column> cols = {{"SANDBOX ID", Align::left, false}, {"NAME"}, {"TEMPLATE"}};
  std::vector<std::vector<Cell>> rows = {
      {{"sb_abcdefghij0123456789"}, {"a-rather-long-sandbox-name"}, {"ai-agent-default"}}};
  std::string wide = format_table(cols, rows, 200, false);
  CHECK_THAT(wide, Catch::Contains("a-rather-long-sandbox-name"));

  std::string narrow = format_table(cols, rows, 50, false);
  for (const std::string& line : split(narrow, '\n')) CHECK(display_width(line) <= 50);
  CHECK_THAT(narrow, Catch::Contains("sb_abcdefghij0123456789"));  // IDs are never cut
  CHECK_THAT(narrow, Catch::Contains("…"));

  // Too narrow to fit: columns stop at their floor and the line is longer than asked.
  std::string tiny = format_table(cols, rows, 10, false);
  CHECK_THAT(tiny, Catch::Contains("sb_abcdefghij0123456789"));
}

TEST_CASE("tables: colour only when asked, not counted in the width", "[cli][output]") {
  std::vector<Column> cols = {{"STATUS"}, {"X"}};
  std::vector<std::vector<Cell>> rows = {{{"active", "32"}, {"y"}}};
  CHECK(format_table(cols, rows, 0, false) == "STATUS   X\nactive   y\n");
  std::string coloured = format_table(cols, rows, 0, true);
  CHECK_THAT(coloured, Catch::Contains("\x1b[32mactive\x1b[0m   y"));
}

TEST_CASE("RFC 3339 and relative times", "[cli][output]") {
  auto t = parse_rfc3339_ms("2026-11-22T02:03:53.014Z");
  REQUIRE(t);
  CHECK(*t == 1795313033014);
  CHECK(parse_rfc3339_ms("1970-01-01T00:00:00Z") == 0);
  CHECK(parse_rfc3339_ms("1970-01-01T01:00:00+01:00") == 0);
  CHECK_FALSE(parse_rfc3339_ms("yesterday"));
  CHECK_FALSE(parse_rfc3339_ms("2026-11-22T02:03:53"));

  const int64_t now = 1'000'000'000;
  CHECK(format_relative(now, now) == "just now");
  CHECK(format_relative(now - 45'000, now) == "45s ago");
  CHECK(format_relative(now - 120'000, now) == "2m ago");
  CHECK(format_relative(now + 28 * 60'000 + 500, now) == "in 28m");
  CHECK(format_relative(now - 3 * 3'600'000, now) == "3h ago");
  CHECK(format_relative(now - 4 * 86'400'000LL, now) == "4d ago");
  CHECK(relative_time(Json("1970-01-01T00:00:00Z"), 60'000) == "1m ago");
  CHECK(relative_time(Json(), 0) == "-");
}

TEST_CASE("sizes and durations", "[cli][output]") {
  CHECK(format_size(Json(372000000)) == "372 MB");
  CHECK(format_size(Json(1200000000)) == "1.2 GB");
  CHECK(format_size(Json(512)) == "512 B");
  CHECK(format_size(Json()) == "-");
  CHECK(format_duration(67) == "1m 7s");
  CHECK(format_duration(3725) == "1h 2m 5s");
  CHECK(format_duration(5) == "5s");
}

TEST_CASE("exec exit statuses", "[cli][output]") {
  CHECK(exec_exit_status(0, "exit status 0") == 0);
  CHECK(exec_exit_status(3, "exit status 3") == 3);
  CHECK(exec_exit_status(-1, "signal: killed") == 137);
  CHECK(exec_exit_status(-1, "signal: terminated") == 143);
  CHECK(exec_exit_status(-1, "signal: segmentation fault (core dumped)") == 139);
  CHECK(exec_exit_status(-1, "signal: 9") == 137);
  CHECK(exec_exit_status(-1, "something else") == 1);
}

TEST_CASE("run --json shape", "[cli][output]") {
  Json api = {{"sandbox_id", "sb_1"}, {"stdout", "4\n"}, {"stderr", ""}, {"exit_code", 0},
              {"execution_time", 0.031}, {"timed_out", false}, {"extra", 1}};
  Json out = run_result_json(api);
  CHECK(out == Json{{"sandbox_id", "sb_1"}, {"stdout", "4\n"}, {"stderr", ""}, {"exit_code", 0},
                    {"execution_time", 0.031}, {"timed_out", false}});
  Json timeout = run_result_json({{"sandbox_id", "sb_1"}, {"stdout", ""}, {"stderr", ""},
                                  {"exit_code", -1}, {"execution_time", 2.0},
                                  {"timed_out", true},
                                  {"error", "Code execution exceeded 2 second timeout"}});
  CHECK(timeout["error"] == "Code execution exceeded 2 second timeout");
  CHECK(timeout["timed_out"] == true);
  CHECK(json_line(Json{{"a", 1}}) == "{\"a\":1}\n");
}
