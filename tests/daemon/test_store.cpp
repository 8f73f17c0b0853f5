// SPDX-License-Identifier: Apache-2.0
// Tests for daemon/store (SQLite, migrations) and sandbox records.
#include <catch.hpp>

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "daemon/store.hpp"
#include "tests/daemon/temp_dir.hpp"

using namespace nexus;
using namespace nexus::daemon;

namespace {


SandboxRecord sample(const std::string& id) {
  SandboxRecord r;
  r.id = id;
  r.name = "demo";
  r.template_name = "ai-agent-default";
  r.state = SandboxState::running;
  r.env = {{"A", "1"}, {"B", "two words"}};
  r.owner = "root";
  r.created_at_ms = 1000;
  r.expires_at_ms = 601000;
  r.last_active_at_ms = 2000;
  r.pid = 4242;
  r.pid_start_time = 987654321;
  return r;
}

}  // namespace

TEST_CASE("store round-trips sandboxes and survives reopen", "[store]") {
  TempDir dir;
  std::string db = dir.path + "/nexus.db";
  {
    auto store = Store::open(db);
    REQUIRE(store);
    CHECK((*store)->schema_version() == 4);
    REQUIRE((*store)->insert(sample("sb_a")));
    auto dup = (*store)->insert(sample("sb_a"));
    CHECK_FALSE(dup);
    auto r = sample("sb_a");
    r.state = SandboxState::paused;
    r.expires_at_ms = 99;
    REQUIRE((*store)->update(r));
    auto missing = sample("sb_missing");
    auto u = (*store)->update(missing);
    REQUIRE_FALSE(u);
    CHECK(u.error().is(Errc::not_found));
  }
  auto store = Store::open(db);  // reopen: migrations are not re-applied
  REQUIRE(store);
  auto got = (*store)->get("sb_a");
  REQUIRE(got);
  REQUIRE(got->has_value());
  const auto& r = **got;
  CHECK(r.state == SandboxState::paused);
  CHECK(r.expires_at_ms == 99);
  CHECK(r.env.at("B") == "two words");
  CHECK(r.pid_start_time == 987654321);
  auto none = (*store)->get("sb_none");
  REQUIRE(none);
  CHECK_FALSE(none->has_value());
}

TEST_CASE("list filters stopped sandboxes and prune forgets old ones", "[store]") {
  TempDir dir;
  auto store = Store::open(dir.path + "/nexus.db");
  REQUIRE(store);
  auto a = sample("sb_a");
  auto b = sample("sb_b");
  b.state = SandboxState::stopped;
  b.stopped_at_ms = 10;
  REQUIRE((*store)->insert(a));
  REQUIRE((*store)->insert(b));
  CHECK((*store)->list(false)->size() == 1);
  CHECK((*store)->list(true)->size() == 2);
  CHECK((*store)->prune_stopped(11).value() == 1);
  CHECK((*store)->list(true)->size() == 1);
}

TEST_CASE("a database from a newer nexusd is refused, not damaged", "[store]") {
  TempDir dir;
  std::string db = dir.path + "/nexus.db";
  {
    sqlite3* h = nullptr;
    REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
    REQUIRE(sqlite3_exec(h, "PRAGMA user_version = 99", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(h);
  }
  auto store = Store::open(db);
  REQUIRE_FALSE(store);
  CHECK(store.error().message().find("newer") != std::string::npos);
}

TEST_CASE("the API form of a sandbox says active for running", "[record]") {
  auto r = sample("sb_a");
  auto j = to_api_json(r, 61000);
  CHECK(j["status"] == "active");
  CHECK(j["uptime_seconds"] == 60);
  CHECK(j["created_at"] == "1970-01-01T00:00:01.000Z");
  SandboxState s;
  CHECK(parse_state("paused", s));
  CHECK(s == SandboxState::paused);
  CHECK_FALSE(parse_state("running", s));
}

TEST_CASE("the database and its WAL files are private to root", "[store]") {
  TempDir dir;
  std::string db = dir.path + "/nexus.db";
  auto mode_of = [](const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 07777) : -1;
  };
  {
    auto store = Store::open(db);
    REQUIRE(store);
    REQUIRE((*store)->insert(sample("sb_a")));  // makes the WAL exist
    CHECK(mode_of(db) == 0600);
    CHECK(mode_of(db + "-wal") == 0600);
    CHECK(mode_of(db + "-shm") == 0600);
  }
  // A database left world-readable by an older nexusd is repaired on open.
  REQUIRE(::chmod(db.c_str(), 0644) == 0);
  (void)::chmod((db + "-wal").c_str(), 0644);
  auto store = Store::open(db);
  REQUIRE(store);
  CHECK(mode_of(db) == 0600);
  int wal = mode_of(db + "-wal");
  CHECK((wal == -1 || wal == 0600));
}
