// SPDX-License-Identifier: Apache-2.0
// Store implementation on the SQLite C API.
#include "daemon/store.hpp"

#include "daemon/store_internal.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

namespace nexus::daemon {
namespace {

using detail::col_text;
using detail::Stmt;

// Migrations, applied in order; index + 1 is the schema version they produce.
// Never edit a released migration: append a new one.
constexpr const char* kMigrations[] = {
    // 1: sandboxes
    R"sql(
    CREATE TABLE sandboxes (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      template TEXT NOT NULL,
      isolation TEXT NOT NULL,
      state TEXT NOT NULL,
      cpus INTEGER NOT NULL,
      memory_mib INTEGER NOT NULL,
      env_json TEXT NOT NULL DEFAULT '{}',
      owner TEXT NOT NULL DEFAULT '',
      ttl_seconds INTEGER NOT NULL,
      created_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL,
      last_active_at INTEGER NOT NULL,
      stopped_at INTEGER NOT NULL DEFAULT 0,
      pid INTEGER NOT NULL DEFAULT 0,
      pid_start_time INTEGER NOT NULL DEFAULT 0,
      error TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX sandboxes_state ON sandboxes(state);
    )sql",
    // 2: E2B: metadata, timeout action, envd access token; API keys
    R"sql(
    ALTER TABLE sandboxes ADD COLUMN metadata_json TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE sandboxes ADD COLUMN on_timeout TEXT NOT NULL DEFAULT 'stop';
    ALTER TABLE sandboxes ADD COLUMN access_token TEXT NOT NULL DEFAULT '';
    CREATE TABLE api_keys (
      id TEXT PRIMARY KEY,
      user TEXT NOT NULL,
      name TEXT NOT NULL DEFAULT '',
      admin INTEGER NOT NULL DEFAULT 0,
      hash TEXT NOT NULL UNIQUE,
      prefix TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      last_used_at INTEGER NOT NULL DEFAULT 0,
      revoked_at INTEGER NOT NULL DEFAULT 0
    );
    )sql",
    // 3: pulled OCI images (daemon/image_store.cpp)
    R"sql(
    CREATE TABLE images (
      reference TEXT PRIMARY KEY,
      manifest_digest TEXT NOT NULL,
      config_digest TEXT NOT NULL,
      size INTEGER NOT NULL,
      pulled_at INTEGER NOT NULL,
      record_json TEXT NOT NULL
    );
    CREATE INDEX images_manifest ON images(manifest_digest);
    )sql",
    // 4: sandbox networking: the address block and the network settings (rules, domains)
    R"sql(
    ALTER TABLE sandboxes ADD COLUMN net_index INTEGER NOT NULL DEFAULT -1;
    ALTER TABLE sandboxes ADD COLUMN network_json TEXT NOT NULL DEFAULT '{}';
    )sql",
};

constexpr const char* kColumns =
    "id, name, template, isolation, state, cpus, memory_mib, env_json, owner, ttl_seconds, "
    "created_at, expires_at, last_active_at, stopped_at, pid, pid_start_time, error, metadata_json, "
    "on_timeout, access_token, net_index, network_json";

SandboxRecord read_row(sqlite3_stmt* s) {
  SandboxRecord r;
  r.id = col_text(s, 0);
  r.name = col_text(s, 1);
  r.template_name = col_text(s, 2);
  r.isolation = col_text(s, 3);
  if (!parse_state(col_text(s, 4), r.state)) r.state = SandboxState::failed;
  r.cpus = sqlite3_column_int(s, 5);
  r.memory_mib = sqlite3_column_int(s, 6);
  if (auto env = parse_json(col_text(s, 7)); env && env->is_object()) {
    for (auto& [k, v] : env->items())
      if (v.is_string()) r.env[k] = v.get<std::string>();
  }
  r.owner = col_text(s, 8);
  r.ttl_seconds = sqlite3_column_int64(s, 9);
  r.created_at_ms = sqlite3_column_int64(s, 10);
  r.expires_at_ms = sqlite3_column_int64(s, 11);
  r.last_active_at_ms = sqlite3_column_int64(s, 12);
  r.stopped_at_ms = sqlite3_column_int64(s, 13);
  r.pid = sqlite3_column_int64(s, 14);
  r.pid_start_time = static_cast<uint64_t>(sqlite3_column_int64(s, 15));
  r.error = col_text(s, 16);
  if (auto md = parse_json(col_text(s, 17)); md && md->is_object()) {
    for (auto& [k, v] : md->items())
      if (v.is_string()) r.metadata[k] = v.get<std::string>();
  }
  r.on_timeout = col_text(s, 18) == "pause" ? TimeoutAction::pause : TimeoutAction::stop;
  r.access_token = col_text(s, 19);
  r.net_index = sqlite3_column_int64(s, 20);
  if (auto n = parse_json(col_text(s, 21)); n && n->is_object()) r.network = std::move(*n);
  return r;
}

void bind_record(Stmt& st, const SandboxRecord& r) {
  st.bind(1, r.id);
  st.bind(2, r.name);
  st.bind(3, r.template_name);
  st.bind(4, r.isolation);
  st.bind(5, std::string(state_name(r.state)));
  st.bind(6, int64_t{r.cpus});
  st.bind(7, int64_t{r.memory_mib});
  st.bind(8, dump_json(Json(r.env)));
  st.bind(9, r.owner);
  st.bind(10, r.ttl_seconds);
  st.bind(11, r.created_at_ms);
  st.bind(12, r.expires_at_ms);
  st.bind(13, r.last_active_at_ms);
  st.bind(14, r.stopped_at_ms);
  st.bind(15, r.pid);
  st.bind(16, static_cast<int64_t>(r.pid_start_time));
  st.bind(17, r.error);
  st.bind(18, dump_json(Json(r.metadata)));
  st.bind(19, std::string(r.on_timeout == TimeoutAction::pause ? "pause" : "stop"));
  st.bind(20, r.access_token);
  st.bind(21, r.net_index);
  st.bind(22, dump_json(r.network.is_object() ? r.network : Json::object()));
}

}  // namespace

Result<std::unique_ptr<Store>> Store::open(const std::string& path) {
  // The database holds sandboxes' access tokens and environments: owner-only. SQLite gives
  // the -wal and -shm files the database file's mode, so set it before they exist, and
  // repair all three for databases made by older versions.
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return fail_errno(fmt::format("opening database '{}'", path));
  int mode_rc = ::fchmod(fd, 0600);
  ::close(fd);
  if (mode_rc != 0) return fail_errno(fmt::format("making database '{}' private", path));
  for (const char* suffix : {"-wal", "-shm"}) (void)::chmod((path + suffix).c_str(), 0600);
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return fail(Errc::unavailable, fmt::format("opening database '{}': {}", path, msg));
  }
  std::unique_ptr<Store> store(new Store(db));
  sqlite3_busy_timeout(db, 5000);
  NEXUS_TRY(store->exec("PRAGMA journal_mode=WAL"));
  NEXUS_TRY(store->exec("PRAGMA synchronous=NORMAL"));
  NEXUS_TRY(store->exec("PRAGMA foreign_keys=ON"));
  if (auto r = store->migrate(); !r) return fail(std::move(r.error()).wrap(fmt::format("migrating '{}'", path)));
  return store;
}

Store::~Store() { sqlite3_close(db_); }

Result<void> Store::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return fail(Errc::internal, fmt::format("sqlite: {}", msg));
  }
  return {};
}

Result<void> Store::migrate() {
  Stmt v(db_, "PRAGMA user_version");
  if (!v.ok() || sqlite3_step(v.get()) != SQLITE_ROW) return fail(v.error("reading schema version"));
  int version = sqlite3_column_int(v.get(), 0);
  constexpr int kLatest = static_cast<int>(std::size(kMigrations));
  if (version > kLatest)
    return fail(Errc::conflict, fmt::format("database schema version {} is newer than this nexusd ({})",
                                            version, kLatest));
  for (int i = version; i < kLatest; ++i) {
    NEXUS_TRY(exec("BEGIN IMMEDIATE"));
    auto r = exec(kMigrations[i]);
    if (r) r = exec(fmt::format("PRAGMA user_version = {}", i + 1).c_str());
    if (!r) {
      (void)exec("ROLLBACK");  // the original error is the one to report
      return fail(std::move(r.error()).wrap(fmt::format("migration {}", i + 1)));
    }
    NEXUS_TRY(exec("COMMIT"));
  }
  schema_version_ = kLatest;
  return {};
}

Result<void> Store::insert(const SandboxRecord& r) {
  Stmt st(db_, fmt::format("INSERT INTO sandboxes ({}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22)",
                           kColumns).c_str());
  if (!st.ok()) return fail(st.error("preparing insert"));
  bind_record(st, r);
  if (sqlite3_step(st.get()) != SQLITE_DONE) return fail(st.error("inserting sandbox"));
  return {};
}

Result<void> Store::update(const SandboxRecord& r) {
  Stmt st(db_,
          "UPDATE sandboxes SET name=?2, template=?3, isolation=?4, state=?5, cpus=?6, memory_mib=?7, "
          "env_json=?8, owner=?9, ttl_seconds=?10, created_at=?11, expires_at=?12, last_active_at=?13, "
          "stopped_at=?14, pid=?15, pid_start_time=?16, error=?17, metadata_json=?18, on_timeout=?19, "
          "access_token=?20, net_index=?21, network_json=?22 WHERE id=?1");
  if (!st.ok()) return fail(st.error("preparing update"));
  bind_record(st, r);
  if (sqlite3_step(st.get()) != SQLITE_DONE) return fail(st.error("updating sandbox"));
  if (sqlite3_changes(db_) != 1) return fail(Errc::not_found, fmt::format("sandbox '{}' not found", r.id));
  return {};
}

Result<std::optional<SandboxRecord>> Store::get(const std::string& id) {
  Stmt st(db_, fmt::format("SELECT {} FROM sandboxes WHERE id=?1", kColumns).c_str());
  if (!st.ok()) return fail(st.error("preparing select"));
  st.bind(1, id);
  int rc = sqlite3_step(st.get());
  if (rc == SQLITE_ROW) return std::optional<SandboxRecord>(read_row(st.get()));
  if (rc == SQLITE_DONE) return std::optional<SandboxRecord>();
  return fail(st.error("reading sandbox"));
}

Result<std::vector<SandboxRecord>> Store::list(bool include_stopped) {
  std::string sql = fmt::format("SELECT {} FROM sandboxes {} ORDER BY created_at", kColumns,
                                include_stopped ? "" : "WHERE state IN ('creating','active','paused')");
  Stmt st(db_, sql.c_str());
  if (!st.ok()) return fail(st.error("preparing list"));
  std::vector<SandboxRecord> out;
  int rc;
  while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) out.push_back(read_row(st.get()));
  if (rc != SQLITE_DONE) return fail(st.error("listing sandboxes"));
  return out;
}

Result<int> Store::prune_stopped(int64_t cutoff_ms) {
  Stmt st(db_, "DELETE FROM sandboxes WHERE state IN ('stopped','failed') AND stopped_at < ?1");
  if (!st.ok()) return fail(st.error("preparing prune"));
  st.bind(1, cutoff_ms);
  if (sqlite3_step(st.get()) != SQLITE_DONE) return fail(st.error("pruning sandboxes"));
  return sqlite3_changes(db_);
}

}  // namespace nexus::daemon
