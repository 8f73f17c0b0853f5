// SPDX-License-Identifier: Apache-2.0
// The audit log: JSON lines, rotation by size keeping N files, queries; and the counters.
#include <catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "net/egress/audit.hpp"

using namespace nexus;
using namespace nexus::net::egress;

namespace {
AuditRecord rec(int64_t t, std::string sb, Outcome o, uint64_t sent, uint64_t recv) {
  AuditRecord r;
  r.time_ms = t;
  r.sandbox_id = std::move(sb);
  r.client = "10.88.0.2:40000";
  r.original_dst = "198.51.100.10:80";
  r.host = "allowed.test";
  r.scheme = "http";
  r.method = "GET";
  r.url = "/x";
  r.status = 200;
  r.outcome = o;
  r.reason = "allowed by sandbox pattern";
  r.bytes_sent = sent;
  r.bytes_received = recv;
  r.duration_ms = 3;
  return r;
}
size_t lines(const std::string& path) {
  std::ifstream in(path);
  size_t n = 0;
  std::string l;
  while (std::getline(in, l)) ++n;
  return n;
}
}  // namespace

TEST_CASE("audit records round-trip through JSON", "[audit]") {
  auto r = rec(1700000000123, "sb1", Outcome::denied, 10, 20);
  auto j = to_json(r);
  CHECK(j["decision"] == "denied");
  CHECK(j["time"] == "2023-11-14T22:13:20.123Z");
  auto back = audit_record_from_json(j);
  REQUIRE(back);
  CHECK(to_json(*back) == j);
  CHECK_FALSE(audit_record_from_json(Json{{"decision", "maybe"}}));
}

TEST_CASE("the JSON lines log rotates by size, keeps N files and answers queries", "[audit]") {
  char tmpl[] = "/tmp/nexus-egress-audit-XXXXXX";
  REQUIRE(::mkdtemp(tmpl));
  const std::string dir = tmpl, path = dir + "/audit.jsonl";
  auto log = JsonlAuditLog::open(path, 4096, 2);
  REQUIRE(log);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  for (int i = 0; i < 200; ++i) (*log)->record(rec(1000 + i, i % 2 ? "odd" : "even", Outcome::allowed, i, 2 * i));
  CHECK((*log)->last_error().empty());
  // Bounded: the current file and two rotated ones, none past the limit, nothing older.
  for (const auto& f : {path, path + ".1", path + ".2"}) {
    REQUIRE(::stat(f.c_str(), &st) == 0);
    CHECK(st.st_size <= 4096);
    CHECK(lines(f) > 0);
  }
  CHECK(::stat((path + ".3").c_str(), &st) != 0);
  size_t kept = lines(path) + lines(path + ".1") + lines(path + ".2");
  CHECK(kept < 200);

  auto all = (*log)->query({"", 0, 0});
  REQUIRE(all);
  REQUIRE(all->size() == kept);
  CHECK(all->back().time_ms == 1199);  // the newest is kept, in time order
  for (size_t i = 1; i < all->size(); ++i) CHECK((*all)[i - 1].time_ms < (*all)[i].time_ms);
  auto odd = (*log)->query({"odd", 1190, 3});
  REQUIRE(odd);
  REQUIRE(odd->size() == 3);
  CHECK((*odd)[0].time_ms == 1195);
  CHECK((*odd)[2].time_ms == 1199);
  for (const auto& r : *odd) CHECK(r.sandbox_id == "odd");
  CHECK((*log)->query({"nobody", 0, 10})->empty());

  // A reopened log appends and still rotates.
  log->reset();
  auto again = JsonlAuditLog::open(path, 4096, 2);
  REQUIRE(again);
  (*again)->record(rec(5000, "even", Outcome::refused, 0, 0));
  CHECK((*again)->query({"", 4000, 10})->size() == 1);
  std::system(("rm -rf " + dir).c_str());
}

TEST_CASE("counters per sandbox and in total", "[audit]") {
  EgressStats s;
  s.add(rec(1, "a", Outcome::allowed, 100, 1000));
  s.add(rec(2, "a", Outcome::denied, 0, 50));
  s.add(rec(3, "b", Outcome::refused, 5, 0));
  s.add(rec(4, "", Outcome::refused, 1, 0));
  CHECK(s.total().allowed == 1);
  CHECK(s.total().refused == 2);
  CHECK(s.total().bytes_sent == 106);
  CHECK(s.sandbox("a")->bytes_received == 1050);
  CHECK(s.sandbox("a")->denied == 1);
  auto j = s.to_json();
  CHECK(j["total"]["connections"]["refused"] == 2);
  CHECK(j["sandboxes"]["b"]["bytes_sent"] == 5);
  s.remove("a");
  CHECK_FALSE(s.sandbox("a"));
  CHECK(s.total().allowed == 1);
}

TEST_CASE("audit query parameters", "[audit]") {
  auto q = audit_query_from_params({{"sandbox", "sb1"}, {"since", "2023-11-14T22:13:20.123Z"}, {"limit", "5"}});
  REQUIRE(q);
  CHECK(q->sandbox_id == "sb1");
  CHECK(q->since_ms == 1700000000123);
  CHECK(q->limit == 5);
  CHECK(audit_query_from_params({{"since", "1700000000123"}})->since_ms == 1700000000123);
  CHECK(audit_query_from_params({})->limit == 100);
  auto bad = [](std::map<std::string, std::string> p, std::string_view prefix) {
    auto r = audit_query_from_params(p);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message(), Catch::StartsWith(std::string(prefix)));
  };
  bad({{"limit", "0"}}, "limit:");
  bad({{"limit", "99999"}}, "limit:");
  bad({{"since", "yesterday"}}, "since:");
  bad({{"sandbx", "x"}}, "unknown parameter 'sandbx'");
  auto j = audit_entries_json({rec(1, "a", Outcome::allowed, 1, 2)});
  CHECK(j["entries"].size() == 1);
  CHECK(j["entries"][0]["sandbox_id"] == "a");
}
