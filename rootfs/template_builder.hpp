// SPDX-License-Identifier: Apache-2.0
// Building a template: cached mmdebstrap base, extracted with the id shift, installed atomically.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.hpp"
#include "rootfs/cache_key.hpp"
#include "rootfs/progress.hpp"
#include "rootfs/seeded_templates.hpp"
#include "rootfs/template_def.hpp"
#include "rootfs/template_store.hpp"

namespace nexus::rootfs {

struct BuildOptions {
  /// Where bootstrapped bases are cached; empty means default_cache_dir().
  std::string cache_dir;
  /// The jail's user namespace maps image ids 0..uid_count-1 to host uid_base.. .
  uint32_t uid_base = 100000;
  uint32_t uid_count = 65536;
  /// chown the tree to the shifted ids. Needs root; building without it gives a tree
  /// owned by the caller, fit only for tests.
  bool apply_ownership = true;
  /// The mmdebstrap program (searched in PATH).
  std::string mmdebstrap = "mmdebstrap";
};

/// Blocking; run it on a worker thread. Makes sure the base tarball is cached (running
/// mmdebstrap, ~35 s and ~370 MB for ai-agent-default, when it is not), extracts it with
/// the id shift into a temporary directory beside <templates_dir>/<def.name>, writes
/// template.json and swaps it in for any previous build. On failure the previous build
/// is untouched. Progress lines: steps and mmdebstrap's output.
/// Errors: invalid_argument (name or base), permission_denied (apply_ownership without
/// root), the failing mmdebstrap's exit status and last lines, extraction errors.
Result<TemplateInfo> build_template(const TemplateDef& def, const std::string& templates_dir,
                                    const BuildOptions& options, const ProgressFn& progress);

/// build_template's two phases, for callers that report them as steps: the cached (or freshly
/// bootstrapped) base tarball's path, then its extraction and installation.
Result<std::string> bootstrap_template_base(const TemplateDef& def, const BuildOptions& options,
                                            const ProgressFn& progress);
Result<TemplateInfo> install_template(const TemplateDef& def, const std::string& tarball_path,
                                      const std::string& templates_dir, const BuildOptions& options,
                                      const ProgressFn& progress);

}  // namespace nexus::rootfs
