// SPDX-License-Identifier: Apache-2.0
// Store: the api_keys table.
#include <sqlite3.h>

#include <fmt/format.h>

#include "daemon/store.hpp"
#include "daemon/store_internal.hpp"

namespace nexus::daemon {
namespace {

using detail::col_text;
using detail::Stmt;

constexpr const char* kKeyColumns =
    "id, user, name, admin, hash, prefix, created_at, last_used_at, revoked_at";

ApiKeyRecord read_key(sqlite3_stmt* s) {
  ApiKeyRecord k;
  k.id = col_text(s, 0);
  k.user = col_text(s, 1);
  k.name = col_text(s, 2);
  k.admin = sqlite3_column_int(s, 3) != 0;
  k.hash = col_text(s, 4);
  k.prefix = col_text(s, 5);
  k.created_at_ms = sqlite3_column_int64(s, 6);
  k.last_used_at_ms = sqlite3_column_int64(s, 7);
  k.revoked_at_ms = sqlite3_column_int64(s, 8);
  return k;
}

}  // namespace

Result<void> Store::insert_key(const ApiKeyRecord& k) {
  Stmt st(db_, fmt::format("INSERT INTO api_keys ({}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)", kKeyColumns).c_str());
  if (!st.ok()) return fail(st.error("preparing key insert"));
  st.bind(1, k.id);
  st.bind(2, k.user);
  st.bind(3, k.name);
  st.bind(4, int64_t{k.admin ? 1 : 0});
  st.bind(5, k.hash);
  st.bind(6, k.prefix);
  st.bind(7, k.created_at_ms);
  st.bind(8, k.last_used_at_ms);
  st.bind(9, k.revoked_at_ms);
  if (sqlite3_step(st.get()) != SQLITE_DONE) return fail(st.error("inserting API key"));
  return {};
}

Result<std::optional<ApiKeyRecord>> Store::find_key_by_hash(const std::string& hash) {
  Stmt st(db_, fmt::format("SELECT {} FROM api_keys WHERE hash=?1", kKeyColumns).c_str());
  if (!st.ok()) return fail(st.error("preparing key lookup"));
  st.bind(1, hash);
  int rc = sqlite3_step(st.get());
  if (rc == SQLITE_ROW) return std::optional<ApiKeyRecord>(read_key(st.get()));
  if (rc == SQLITE_DONE) return std::optional<ApiKeyRecord>();
  return fail(st.error("reading API key"));
}

Result<std::vector<ApiKeyRecord>> Store::list_keys() {
  Stmt st(db_, fmt::format("SELECT {} FROM api_keys ORDER BY created_at, id", kKeyColumns).c_str());
  if (!st.ok()) return fail(st.error("preparing key list"));
  std::vector<ApiKeyRecord> out;
  int rc;
  while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) out.push_back(read_key(st.get()));
  if (rc != SQLITE_DONE) return fail(st.error("listing API keys"));
  return out;
}

Result<ApiKeyRecord> Store::revoke_key(const std::string& id, int64_t now_ms) {
  Stmt st(db_, "UPDATE api_keys SET revoked_at=?2 WHERE id=?1 AND revoked_at=0");
  if (!st.ok()) return fail(st.error("preparing key revoke"));
  st.bind(1, id);
  st.bind(2, now_ms);
  if (sqlite3_step(st.get()) != SQLITE_DONE) return fail(st.error("revoking API key"));
  if (sqlite3_changes(db_) != 1) return fail(Errc::not_found, fmt::format("API key '{}' not found", id));
  Stmt get(db_, fmt::format("SELECT {} FROM api_keys WHERE id=?1", kKeyColumns).c_str());
  if (!get.ok()) return fail(get.error("preparing key select"));
  get.bind(1, id);
  if (sqlite3_step(get.get()) != SQLITE_ROW) return fail(get.error("reading API key"));
  return read_key(get.get());
}

Result<void> Store::touch_key(const std::string& id, int64_t now_ms) {
  Stmt st(db_, "UPDATE api_keys SET last_used_at=?2 WHERE id=?1");
  if (!st.ok()) return fail(st.error("preparing key update"));
  st.bind(1, id);
  st.bind(2, now_ms);
  if (sqlite3_step(st.get()) != SQLITE_DONE) return fail(st.error("updating API key"));
  return {};
}

}  // namespace nexus::daemon
