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

/// An API key as stored: only the SHA-256 of the secret is kept.
struct ApiKeyRecord {
  std::string id;       ///< "key_" + base32, public
  std::string user;     ///< the owner of what the key creates
  std::string name;     ///< a label chosen by the creator
  bool admin = false;   ///< sees and manages every user's sandboxes
  std::string hash;     ///< hex SHA-256 of the secret
  std::string prefix;   ///< the first characters of the secret, to recognise it
  int64_t created_at_ms = 0;
  int64_t last_used_at_ms = 0;
  int64_t revoked_at_ms = 0;
};

/// A pulled image as stored (daemon/image_store.cpp); record_json is oci::ImageRecord's JSON.
struct ImageRow {
  std::string reference;  ///< canonical ("docker.io/library/debian:12"); the key
  std::string manifest_digest;
  std::string config_digest;
  int64_t size = 0;  ///< bytes of the layer blobs
  int64_t pulled_at_ms = 0;
  std::string record_json;
};

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

  // API keys (store_keys.cpp)
  Result<void> insert_key(const ApiKeyRecord& k);
  /// The key whose secret hashes to `hash`, revoked or not.
  Result<std::optional<ApiKeyRecord>> find_key_by_hash(const std::string& hash);
  Result<std::vector<ApiKeyRecord>> list_keys();
  /// Mark a key revoked; not_found if there is no such (unrevoked) key.
  Result<ApiKeyRecord> revoke_key(const std::string& id, int64_t now_ms);
  Result<void> touch_key(const std::string& id, int64_t now_ms);

  // Images (image_store.cpp)
  /// Insert or replace the row for `row.reference`.
  Result<void> put_image(const ImageRow& row);
  /// Every image, oldest pull first.
  Result<std::vector<ImageRow>> list_images();
  /// Remove the row for `reference`; false when there was none.
  Result<bool> delete_image(const std::string& reference);

 private:
  explicit Store(sqlite3* db) : db_(db) {}
  Result<void> migrate();
  Result<void> exec(const char* sql);

  sqlite3* db_;
  int schema_version_ = 0;
};

}  // namespace nexus::daemon
