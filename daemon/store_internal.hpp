// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the Store's translation units: a prepared statement and column reads.
#pragma once

#include <sqlite3.h>

#include <string>
#include <string_view>

#include <fmt/format.h>

#include "common/result.hpp"

namespace nexus::daemon::detail {

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) { rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() { return s_; }
  Error error(std::string_view what) const {
    return Error(Errc::internal, fmt::format("{}: {}", what, sqlite3_errmsg(db_)));
  }
  void bind(int i, const std::string& v) { sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT); }
  void bind(int i, int64_t v) { sqlite3_bind_int64(s_, i, v); }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
  int rc_;
};

inline std::string col_text(sqlite3_stmt* s, int i) {
  auto* p = sqlite3_column_text(s, i);
  return p ? std::string(reinterpret_cast<const char*>(p)) : std::string();
}

}  // namespace nexus::daemon::detail
