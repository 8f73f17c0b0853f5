// SPDX-License-Identifier: Apache-2.0
// Built templates on disk: <templates_dir>/<name>/{rootfs/,template.json}, replaced atomically.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "rootfs/fs_util.hpp"
#include "rootfs/template_def.hpp"

namespace nexus::rootfs {

/// A built template, as recorded in its template.json.
struct TemplateInfo {
  std::string name;
  std::string description;
  DebianBase base;
  std::string cache_key;       ///< cache_key(base) of the tarball it was made from
  std::string built_at;        ///< RFC 3339, UTC
  uint64_t size_bytes = 0;     ///< regular file bytes in the rootfs
  uint32_t uid_base = 0;       ///< host id of the image's root; 0 with uid_count 0: not shifted
  uint32_t uid_count = 0;
  std::string dir;             ///< <templates_dir>/<name>
  std::string rootfs_path;     ///< <templates_dir>/<name>/rootfs, the jail's lower layer
};

/// Reads <templates_dir>/<name>/template.json. Errc::not_found when not built,
/// Errc::invalid_argument for a bad name.
Result<TemplateInfo> read_template(const std::string& templates_dir, std::string_view name);
/// Every built template, sorted by name. A missing templates_dir is an empty list;
/// directories without a readable template.json are left out.
Result<std::vector<TemplateInfo>> list_templates(const std::string& templates_dir);
/// Removes a template (atomically disappears, then is deleted). Errc::not_found if absent.
Result<void> remove_template(const std::string& templates_dir, std::string_view name);

/// A template being built in a temporary directory beside its final place; the
/// destructor removes it unless commit() succeeded. Holds the per-name lock throughout.
class PendingTemplate {
 public:
  /// Locks `name`, clears leftovers of interrupted builds of it, makes the temporary
  /// directory with an empty rootfs/ (owned by uid_base:uid_base when chown_root).
  static Result<PendingTemplate> begin(const std::string& templates_dir, std::string_view name,
                                       uint32_t uid_base, bool chown_root);
  PendingTemplate(PendingTemplate&&) noexcept;
  PendingTemplate& operator=(PendingTemplate&&) = delete;
  PendingTemplate(const PendingTemplate&) = delete;
  PendingTemplate& operator=(const PendingTemplate&) = delete;
  ~PendingTemplate();

  const std::string& rootfs_path() const { return rootfs_; }
  /// Writes template.json, syncs, and swaps the new template in for the old one, which
  /// is then deleted. Readers see either the old template or the new, never neither.
  Result<TemplateInfo> commit(TemplateInfo info);

 private:
  PendingTemplate(std::string templates_dir, std::string name, std::string tmp, FileLock lock);

  std::string templates_dir_;
  std::string name_;
  std::string tmp_;  ///< empty once committed or moved from
  std::string rootfs_;
  FileLock lock_;
};

}  // namespace nexus::rootfs
