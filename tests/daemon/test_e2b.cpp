// SPDX-License-Identifier: Apache-2.0
// Tests for the E2B endpoint's pure parts: API keys (hashed, verified, revoked), principals,
// the list call's metadata filter, the listen address, and the JSON shapes the SDK reads.
#include <catch.hpp>

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <vector>

#include "daemon/auth.hpp"
#include "daemon/e2b_json.hpp"
#include "daemon/e2b_server.hpp"
#include "daemon/store.hpp"

using namespace nexus;
using namespace nexus::daemon;

namespace {

struct TempDb {
  std::string dir, path;
  TempDb() {
    char tmpl[] = "/tmp/nexus-e2b-XXXXXX";
    dir = mkdtemp(tmpl);
    path = dir + "/nexus.db";
  }
  ~TempDb() { std::filesystem::remove_all(dir); }
};

// Every text column of every row of api_keys, concatenated: what a stolen database shows.
std::string dump_keys_table(const std::string& db) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
  std::string out;
  sqlite3_exec(
      h, "SELECT * FROM api_keys",
      [](void* p, int n, char** vals, char**) {
        for (int i = 0; i < n; ++i) *static_cast<std::string*>(p) += std::string(vals[i] ? vals[i] : "") + "|";
        return 0;
      },
      &out, nullptr);
  sqlite3_close(h);
  return out;
}

}  // namespace

TEST_CASE("API keys are stored hashed, verified, and dead once revoked", "[auth]") {
  TempDb db;
  std::string secret, id;
  {
    auto store = Store::open(db.path);
    REQUIRE(store);
    KeyService keys(**store);
    auto k = keys.create("alice", false, "laptop");
    REQUIRE(k);
    secret = k->secret;
    id = k->record.id;
    CHECK(secret.rfind("e2b_", 0) == 0);
    CHECK(secret.size() >= 40);
    CHECK(k->record.hash != secret);
    auto who = keys.verify(secret);
    REQUIRE(who);
    CHECK(who->user == "alice");
    CHECK_FALSE(who->admin);
    // Two keys never share a secret.
    auto k2 = keys.create("alice", false, "");
    REQUIRE(k2);
    CHECK(k2->secret != secret);
  }
  // The secret appears nowhere in the database; only its 8-character prefix does.
  std::string table = dump_keys_table(db.path);
  CHECK(table.find(secret) == std::string::npos);
  CHECK(table.find(secret.substr(0, 8)) != std::string::npos);

  auto store = Store::open(db.path);  // survives a restart
  REQUIRE(store);
  KeyService keys(**store);
  REQUIRE(keys.verify(secret));
  for (std::string bad : {std::string(), std::string("e2b_nope"), secret + "x", secret.substr(1),
                          std::string(10000, 'a')}) {
    auto r = keys.verify(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().is(Errc::unauthenticated));
  }
  auto revoked = keys.revoke(id);
  REQUIRE(revoked);
  CHECK(revoked->revoked_at_ms > 0);
  auto after = keys.verify(secret);
  REQUIRE_FALSE(after);
  CHECK(after.error().is(Errc::unauthenticated));
  auto again = keys.revoke(id);
  REQUIRE_FALSE(again);
  CHECK(again.error().is(Errc::not_found));
}

TEST_CASE("key user names are checked", "[auth]") {
  TempDb db;
  auto store = Store::open(db.path);
  REQUIRE(store);
  KeyService keys(**store);
  for (std::string good : std::vector<std::string>{"alice", "_svc", "bob.smith-2", std::string(32, 'a')}) CHECK(valid_user_name(good));
  for (std::string bad : std::vector<std::string>{"", "Alice", "1abc", "a b", "a/b", "a\nb", std::string(33, 'a'), std::string("a\0b", 3)}) {
    CHECK_FALSE(valid_user_name(bad));
    auto k = keys.create(bad, false, "");
    REQUIRE_FALSE(k);
    CHECK(k.error().is(Errc::invalid_argument));
  }
  auto multi = keys.create("alice", false, "two\nlines");
  REQUIRE_FALSE(multi);
  CHECK(multi.error().is(Errc::invalid_argument));
}

TEST_CASE("principals: root is admin, users see only their own sandboxes", "[auth]") {
  auto root = principal_for_uid(0);
  CHECK(root.user == "root");
  CHECK(root.admin);
  auto nobody = principal_for_uid(65534);  // "nobody" on Debian; a name either way, never admin
  CHECK_FALSE(nobody.admin);
  CHECK_FALSE(nobody.user.empty());
  CHECK(principal_for_uid(4000000000u).user == "uid-4000000000");

  SandboxRecord r;
  r.owner = "alice";
  CHECK(can_access(Principal{"alice", false}, r));
  CHECK_FALSE(can_access(Principal{"bob", false}, r));
  CHECK(can_access(Principal{"admin", true}, r));
}

TEST_CASE("a version 1 database is migrated to version 2 keeping its sandboxes", "[store]") {
  TempDb db;
  {
    sqlite3* h = nullptr;
    REQUIRE(sqlite3_open(db.path.c_str(), &h) == SQLITE_OK);
    // Exactly what migration 1 of nexusd 0.1 created, plus one row in it.
    const char* v1 = R"sql(
      CREATE TABLE sandboxes (
        id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '', template TEXT NOT NULL,
        isolation TEXT NOT NULL DEFAULT 'jail', state TEXT NOT NULL, cpus INTEGER NOT NULL,
        memory_mib INTEGER NOT NULL, env_json TEXT NOT NULL DEFAULT '{}', owner TEXT NOT NULL DEFAULT '',
        ttl_seconds INTEGER NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
        last_active_at INTEGER NOT NULL, stopped_at INTEGER NOT NULL DEFAULT 0,
        pid INTEGER NOT NULL DEFAULT 0, pid_start_time INTEGER NOT NULL DEFAULT 0, error TEXT NOT NULL DEFAULT '');
      CREATE INDEX sandboxes_state ON sandboxes(state);
      INSERT INTO sandboxes (id, template, state, cpus, memory_mib, owner, ttl_seconds, created_at, expires_at,
                             last_active_at) VALUES ('sb_old', 'ai-agent-default', 'running', 1, 512, 'root', 600,
                             1000, 601000, 1000);
      PRAGMA user_version = 1;
    )sql";
    char* err = nullptr;
    int rc = sqlite3_exec(h, v1, nullptr, nullptr, &err);
    INFO((err ? err : ""));
    REQUIRE(rc == SQLITE_OK);
    sqlite3_close(h);
  }
  auto store = Store::open(db.path);
  REQUIRE(store);
  CHECK((*store)->schema_version() >= 2);  // and any later migrations
  auto r = (*store)->get("sb_old");
  REQUIRE(r);
  REQUIRE(*r);
  CHECK((*r)->owner == "root");
  CHECK((*r)->metadata.empty());
  CHECK((*r)->on_timeout == TimeoutAction::stop);
  CHECK((*r)->access_token.empty());
  KeyService keys(**store);
  CHECK(keys.create("alice", false, ""));
}

TEST_CASE("list metadata filter: the SDK's three layers of encoding", "[e2b]") {
  // Captured from e2b 2.51 for {a: 'b c', 'k&y': 'v=1'}, after normal query decoding.
  auto md = e2b::decode_metadata_filter("a=b%2520c&k%2526y=v%253D1");
  REQUIRE(md);
  CHECK(md->size() == 2);
  CHECK(md->at("a") == "b c");
  CHECK(md->at("k&y") == "v=1");
  auto empty = e2b::decode_metadata_filter("");
  REQUIRE(empty);
  CHECK(empty->empty());
  for (auto bad : {"a=%zz", "%=1", "=v", "a=%2"}) {
    auto r = e2b::decode_metadata_filter(bad);
    INFO(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().is(Errc::invalid_argument));
  }
}

TEST_CASE("listen addresses", "[e2b]") {
  auto a = parse_listen_address("127.0.0.1:49982");
  REQUIRE(a);
  CHECK(a->first == "127.0.0.1");
  CHECK(a->second == 49982);
  auto l = parse_listen_address("localhost:0");
  REQUIRE(l);
  CHECK(l->first == "127.0.0.1");
  auto v6 = parse_listen_address("[::1]:8080");
  REQUIRE(v6);
  CHECK(v6->first == "::1");
  for (auto bad : {"", "49982", ":49982", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:x",
                   "example.com:80", "[::1:80", "1.2.3.4.5:80"}) {
    INFO(bad);
    auto r = parse_listen_address(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().message().find("HOST:PORT") != std::string::npos);
  }
}

TEST_CASE("the Sandbox JSON carries what the SDK requires", "[e2b]") {
  SandboxRecord r;
  r.id = "sb_abc";
  r.template_name = "ai-agent-default";
  r.state = SandboxState::paused;
  r.cpus = 2;
  r.memory_mib = 1024;
  r.metadata = {{"k", "v"}};
  r.access_token = "tok";
  r.created_at_ms = 1000;
  r.expires_at_ms = 301000;
  auto s = e2b::sandbox_json(r);
  CHECK(s["sandboxID"] == "sb_abc");
  CHECK(s["envdAccessToken"] == "tok");
  // The SDK runs compareVersions(envdVersion, '0.1.0') and throws for anything but x.y.z.
  std::string v = s["envdVersion"];
  CHECK(std::count(v.begin(), v.end(), '.') == 2);
  auto l = e2b::listed_json(r);
  CHECK(l["state"] == "paused");
  CHECK(l["metadata"]["k"] == "v");
  CHECK(l["startedAt"] == "1970-01-01T00:00:01.000Z");
  CHECK(l["endAt"] == "1970-01-01T00:05:01.000Z");
  CHECK(l["cpuCount"] == 2);
  CHECK(l["memoryMB"] == 1024);
  auto d = e2b::detail_json(r);
  CHECK(d["lifecycle"]["onTimeout"] == "kill");
  r.on_timeout = TimeoutAction::pause;
  CHECK(e2b::detail_json(r)["lifecycle"]["onTimeout"] == "pause");
}

TEST_CASE("signed /files URLs: the SDK's signature formula", "[e2b]") {
  // The example of e2b-protocol.md B.4.
  CHECK(file_signature("/home/user/a.txt", "read", "", "tok123", std::nullopt) ==
        "v1_byj2OB/vujgbES/1KAKCaR27E+9eOrB6PzeTnIL8L6M");
  auto with_exp = file_signature("/home/user/a.txt", "read", "", "tok123", 1700000000);
  CHECK(with_exp != file_signature("/home/user/a.txt", "read", "", "tok123", std::nullopt));
  CHECK(with_exp.find('=') == std::string::npos);
  CHECK(file_signature("/a", "write", "root", "t", std::nullopt) !=
        file_signature("/a", "read", "root", "t", std::nullopt));
}
