// SPDX-License-Identifier: Apache-2.0
// build_template: cache, extract, install.
#include "rootfs/template_builder.hpp"

#include <unistd.h>

#include <chrono>

#include <fmt/format.h>

#include "common/strings.hpp"
#include "rootfs/debian_bootstrap.hpp"
#include "rootfs/extract.hpp"

namespace nexus::rootfs {

namespace {

Result<void> check_buildable(const TemplateDef& def, const BuildOptions& options) {
  NEXUS_TRY(validate_template_name(def.name));
  NEXUS_TRY(validate_debian_base(def.base));
  if (options.apply_ownership && geteuid() != 0)
    return fail(Errc::permission_denied,
                fmt::format("building template '{}' needs root to give its files the "
                            "shifted owners {}+",
                            def.name, options.uid_base));
  return {};
}

}  // namespace

Result<std::string> bootstrap_template_base(const TemplateDef& def, const BuildOptions& options,
                                            const ProgressFn& progress) {
  NEXUS_TRY(check_buildable(def, options));
  std::string cache_dir = options.cache_dir.empty() ? default_cache_dir() : options.cache_dir;
  auto tarball = ensure_debian_base(def.base, cache_dir, options.mmdebstrap, progress);
  if (!tarball) return fail(std::move(tarball).error().wrap(fmt::format("template '{}'", def.name)));
  return tarball;
}

Result<TemplateInfo> install_template(const TemplateDef& def, const std::string& tarball_path,
                                      const std::string& templates_dir, const BuildOptions& options,
                                      const ProgressFn& progress) {
  NEXUS_TRY(check_buildable(def, options));
  auto pending = PendingTemplate::begin(templates_dir, def.name, options.uid_base,
                                        options.apply_ownership);
  if (!pending) return fail(std::move(pending).error());
  report(progress, fmt::format("extracting {} into {}", tarball_path, pending->rootfs_path()));
  auto start = std::chrono::steady_clock::now();
  ExtractOptions eopt{options.uid_base, options.uid_count, options.apply_ownership};
  auto stats = extract_tar(tarball_path, pending->rootfs_path(), eopt, progress);
  if (!stats)
    return fail(std::move(stats).error().wrap(
        fmt::format("extracting cached base {} (delete it to bootstrap again)", tarball_path)));
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report(progress, fmt::format("extracted {} entries, {} MB in {:.1f} s ({} device nodes "
                               "skipped, {} files without their capability/ACL xattrs)",
                               stats->entries, stats->bytes >> 20, secs, stats->skipped_devices,
                               stats->dropped_xattrs));

  TemplateInfo info;
  info.name = def.name;
  info.description = def.description;
  info.base = def.base;
  info.cache_key = cache_key(def.base);
  info.built_at = format_rfc3339_ms(unix_now_ms());
  info.size_bytes = stats->bytes;
  info.uid_base = options.apply_ownership ? options.uid_base : 0;
  info.uid_count = options.apply_ownership ? options.uid_count : 0;
  auto committed = pending->commit(std::move(info));
  if (committed) report(progress, fmt::format("template '{}' ready at {}", def.name, committed->dir));
  return committed;
}

Result<TemplateInfo> build_template(const TemplateDef& def, const std::string& templates_dir,
                                    const BuildOptions& options, const ProgressFn& progress) {
  auto tarball = bootstrap_template_base(def, options, progress);
  if (!tarball) return fail(std::move(tarball).error());
  return install_template(def, *tarball, templates_dir, options, progress);
}

}  // namespace nexus::rootfs
