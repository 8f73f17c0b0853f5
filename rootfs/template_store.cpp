// SPDX-License-Identifier: Apache-2.0
// Reading, listing, removing and atomically installing built templates.
#include "rootfs/template_store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include <fmt/format.h>

#include "rootfs/template_json.hpp"

namespace nexus::rootfs {

namespace {

struct DirCloser {
  void operator()(DIR* d) const { closedir(d); }
};
using UniqueDir = std::unique_ptr<DIR, DirCloser>;

// Hidden names beside <name>; '@' cannot occur in a template name, so the prefix
// ".<name>@" belongs to exactly one template.
std::string hidden_prefix(std::string_view name) { return fmt::format(".{}@", name); }
std::string lock_path(const std::string& dir, std::string_view name) {
  return fmt::format("{}/{}lock", dir, hidden_prefix(name));
}

// Removes the leftovers of interrupted builds and removals of `name`. Caller holds the lock.
Result<void> remove_leftovers(const std::string& dir, std::string_view name) {
  UniqueDir d(opendir(dir.c_str()));
  if (!d) return fail_errno(fmt::format("opening {}", dir));
  std::string tmp = hidden_prefix(name) + "tmp.";
  std::string old = hidden_prefix(name) + "old.";
  std::vector<std::string> doomed;
  while (dirent* e = readdir(d.get())) {
    std::string_view n(e->d_name);
    if (n.starts_with(tmp) || n.starts_with(old)) doomed.emplace_back(n);
  }
  for (const auto& n : doomed) NEXUS_TRY(remove_tree(fmt::format("{}/{}", dir, n)));
  return {};
}

// Moves <dir>/<name> out of the way under a hidden name and returns that name.
Result<std::string> move_aside(const std::string& dir, std::string_view name) {
  auto old = make_temp_dir(dir, hidden_prefix(name) + "old.");
  if (!old) return old;
  std::string live = fmt::format("{}/{}", dir, name);
  if (rename(live.c_str(), old->c_str()) != 0) {
    int err = errno;
    (void)rmdir(old->c_str());
    return fail_errno(err, fmt::format("moving {} aside", live));
  }
  return old;
}

}  // namespace

Result<TemplateInfo> read_template(const std::string& templates_dir, std::string_view name) {
  NEXUS_TRY(validate_template_name(name));
  std::string dir = fmt::format("{}/{}", templates_dir, name);
  auto text = read_file(dir + "/template.json");
  if (!text) {
    if (text.error().is(Errc::not_found))
      return fail(Errc::not_found, fmt::format("template '{}' is not built", name));
    return fail(std::move(text).error());
  }
  auto info = template_from_json(*text);
  if (!info) return fail(std::move(info).error().wrap(dir + "/template.json"));
  if (info->name != name)
    return fail(Errc::invalid_argument,
                fmt::format("{}/template.json names template '{}'", dir, info->name));
  info->dir = dir;
  info->rootfs_path = dir + "/rootfs";
  return info;
}

Result<std::vector<TemplateInfo>> list_templates(const std::string& templates_dir) {
  std::vector<TemplateInfo> out;
  UniqueDir d(opendir(templates_dir.c_str()));
  if (!d) {
    if (errno == ENOENT) return out;
    return fail_errno(fmt::format("opening {}", templates_dir));
  }
  while (dirent* e = readdir(d.get())) {
    if (!is_valid_template_name(e->d_name)) continue;  // also skips hidden work names
    if (auto info = read_template(templates_dir, e->d_name)) out.push_back(std::move(*info));
  }
  std::sort(out.begin(), out.end(),
            [](const TemplateInfo& a, const TemplateInfo& b) { return a.name < b.name; });
  return out;
}

Result<void> remove_template(const std::string& templates_dir, std::string_view name) {
  NEXUS_TRY(validate_template_name(name));
  auto exists = path_exists(fmt::format("{}/{}", templates_dir, name));
  if (!exists) return fail(std::move(exists).error());
  if (!*exists) return fail(Errc::not_found, fmt::format("template '{}' does not exist", name));
  auto lock = FileLock::acquire(lock_path(templates_dir, name));
  if (!lock) return fail(std::move(lock).error());
  auto old = move_aside(templates_dir, name);
  if (!old) {
    if (old.error().errno_value() == ENOENT)  // removed while we waited for the lock
      return fail(Errc::not_found, fmt::format("template '{}' does not exist", name));
    return fail(std::move(old).error());
  }
  NEXUS_TRY(fsync_dir(templates_dir));
  return remove_tree(*old);
}

PendingTemplate::PendingTemplate(std::string templates_dir, std::string name, std::string tmp,
                                 FileLock lock)
    : templates_dir_(std::move(templates_dir)),
      name_(std::move(name)),
      tmp_(std::move(tmp)),
      rootfs_(tmp_ + "/rootfs"),
      lock_(std::move(lock)) {}

PendingTemplate::PendingTemplate(PendingTemplate&& o) noexcept
    : templates_dir_(std::move(o.templates_dir_)),
      name_(std::move(o.name_)),
      tmp_(std::exchange(o.tmp_, std::string())),
      rootfs_(std::move(o.rootfs_)),
      lock_(std::move(o.lock_)) {}

PendingTemplate::~PendingTemplate() {
  if (!tmp_.empty()) (void)remove_tree(tmp_);  // best effort; begin() retries later
}

Result<PendingTemplate> PendingTemplate::begin(const std::string& templates_dir,
                                               std::string_view name, uint32_t uid_base,
                                               bool chown_root) {
  NEXUS_TRY(validate_template_name(name));
  NEXUS_TRY(make_dirs(templates_dir, 0755));
  auto lock = FileLock::acquire(lock_path(templates_dir, name));
  if (!lock) return fail(std::move(lock).error());
  NEXUS_TRY(remove_leftovers(templates_dir, name));
  auto tmp = make_temp_dir(templates_dir, hidden_prefix(name) + "tmp.");
  if (!tmp) return fail(std::move(tmp).error());
  PendingTemplate p(templates_dir, std::string(name), *tmp, std::move(*lock));
  // mkdtemp makes 0700; the template directory must be traversable like any image.
  if (chmod(p.tmp_.c_str(), 0755) != 0) return fail_errno(fmt::format("chmod {}", p.tmp_));
  if (mkdir(p.rootfs_.c_str(), 0755) != 0) return fail_errno(fmt::format("creating {}", p.rootfs_));
  if (chown_root && chown(p.rootfs_.c_str(), uid_base, uid_base) != 0)
    return fail_errno(fmt::format("chown {}", p.rootfs_));
  return p;
}

Result<TemplateInfo> PendingTemplate::commit(TemplateInfo info) {
  if (tmp_.empty()) return fail(Errc::conflict, "template already committed");
  info.name = name_;
  NEXUS_TRY(write_file_synced(tmp_ + "/template.json", template_to_json(info)));
  NEXUS_TRY(sync_filesystem(tmp_));

  std::string live = fmt::format("{}/{}", templates_dir_, name_);
  if (renameat2(AT_FDCWD, tmp_.c_str(), AT_FDCWD, live.c_str(), RENAME_NOREPLACE) == 0) {
    tmp_.clear();
  } else if (errno == EEXIST || errno == ENOTEMPTY) {
    // Swap in one step; `tmp_` then holds the old template.
    if (renameat2(AT_FDCWD, tmp_.c_str(), AT_FDCWD, live.c_str(), RENAME_EXCHANGE) != 0) {
      if (errno != EINVAL) return fail_errno(fmt::format("replacing {}", live));
      // No RENAME_EXCHANGE on this filesystem: a moment without the template.
      auto old = move_aside(templates_dir_, name_);
      if (!old) return fail(std::move(old).error());
      if (rename(tmp_.c_str(), live.c_str()) != 0) {
        int err = errno;
        (void)rename(old->c_str(), live.c_str());
        return fail_errno(err, fmt::format("installing {}", live));
      }
      tmp_ = *old;
    }
  } else {
    return fail_errno(fmt::format("installing {}", live));
  }
  NEXUS_TRY(fsync_dir(templates_dir_));
  if (!tmp_.empty()) {
    (void)remove_tree(tmp_);  // the old template; a leftover is removed by the next build
    tmp_.clear();
  }
  info.dir = live;
  info.rootfs_path = live + "/rootfs";
  return info;
}

}  // namespace nexus::rootfs
