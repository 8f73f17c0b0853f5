// SPDX-License-Identifier: Apache-2.0
// Store: nexusd's state in SQLite (WAL, versioned migrations embedded here).
//
// Thread affinity: one thread (the daemon loop). Every write is a single transaction.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "daemon/sandbox_record.hpp"

struct sqlite3;

namespace nexus::daemon {

class Store {
 public:
  /// Open (creating if needed) the database at `path` and apply pending migrations.
  static Result<std::unique_ptr<Store>> open(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// Schema version after migrations.
  int schema_version() const { return schema_version_; }

  Result<void> insert(const SandboxRecord& r);
  /// Replace every mutable column of an existing sandbox.
  Result<void> update(const SandboxRecord& r);
  Result<std::optional<SandboxRecord>> get(const std::string& id);
  /// All sandboxes; with `include_stopped` false only creating/active/paused ones.
  Result<std::vector<SandboxRecord>> list(bool include_stopped);
  /// Forget stopped/failed sandboxes that ended before `cutoff_ms`.
  Result<int> prune_stopped(int64_t cutoff_ms);

 private:
  explicit Store(sqlite3* db) : db_(db) {}
  Result<void> migrate();
  Result<void> exec(const char* sql);

  sqlite3* db_;
  int schema_version_ = 0;
};

}  // namespace nexus::daemon
