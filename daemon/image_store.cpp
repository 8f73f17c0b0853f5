// SPDX-License-Identifier: Apache-2.0
// Store: the images table (pulled OCI images).
#include <sqlite3.h>

#include <fmt/format.h>

#include "daemon/store.hpp"
#include "daemon/store_internal.hpp"

namespace nexus::daemon {

using detail::col_text;
using detail::Stmt;

Result<void> Store::put_image(const ImageRow& row) {
  Stmt st(db_,
          "INSERT OR REPLACE INTO images (reference, manifest_digest, config_digest, size, pulled_at, record_json) "
          "VALUES (?1,?2,?3,?4,?5,?6)");
  if (!st.ok()) return fail(st.error("preparing image insert"));
  st.bind(1, row.reference);
  st.bind(2, row.manifest_digest);
  st.bind(3, row.config_digest);
  st.bind(4, row.size);
  st.bind(5, row.pulled_at_ms);
  st.bind(6, row.record_json);
  if (sqlite3_step(st.get()) != SQLITE_DONE) return fail(st.error("storing image"));
  return {};
}

Result<std::vector<ImageRow>> Store::list_images() {
  Stmt st(db_,
          "SELECT reference, manifest_digest, config_digest, size, pulled_at, record_json FROM images "
          "ORDER BY pulled_at, reference");
  if (!st.ok()) return fail(st.error("preparing image list"));
  std::vector<ImageRow> out;
  int rc;
  while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
    ImageRow r;
    r.reference = col_text(st.get(), 0);
    r.manifest_digest = col_text(st.get(), 1);
    r.config_digest = col_text(st.get(), 2);
    r.size = sqlite3_column_int64(st.get(), 3);
    r.pulled_at_ms = sqlite3_column_int64(st.get(), 4);
    r.record_json = col_text(st.get(), 5);
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return fail(st.error("listing images"));
  return out;
}

Result<bool> Store::delete_image(const std::string& reference) {
  Stmt st(db_, "DELETE FROM images WHERE reference=?1");
  if (!st.ok()) return fail(st.error("preparing image delete"));
  st.bind(1, reference);
  if (sqlite3_step(st.get()) != SQLITE_DONE) return fail(st.error("deleting image"));
  return sqlite3_changes(db_) > 0;
}

}  // namespace nexus::daemon
