// SPDX-License-Identifier: Apache-2.0
// One Nexusfile build, start to finish, on a worker thread: the base (mmdebstrap or an image
// tree), then the steps (RUN in a build sandbox: a jail over the tree; COPY from the build
// context; ENV, WORKDIR, USER, CMD), then the template installed atomically with its
// defaults. Reports the build events of docs/api.md "Build events".
//
// How RUN writes the tree: the jail always runs a sandbox as an overlay (lower: the tree being
// built, upper: a per-sandbox dir). Consecutive RUN steps share one build sandbox; before a
// COPY and after the last step it is stopped and its upper dir is merged into the tree
// (build_tree.hpp: whiteouts and opaque dirs applied), so COPY and the next RUN see one tree.
//
// Thread affinity: run_build() blocks on the calling (worker) thread; it makes its own
// uv::Loop for the agent calls. `emit` is called on that thread only.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/json.hpp"
#include "common/result.hpp"
#include "daemon/config.hpp"
#include "rootfs/oci/image_config.hpp"
#include "rootfs/nexusfile.hpp"
#include "rootfs/template_def.hpp"
#include "rootfs/template_defaults.hpp"
#include "rootfs/template_store.hpp"

namespace nexus::daemon {

/// The build context's bound (the decoded tar), and its unpacked size (build_tree limits).
inline constexpr size_t kMaxContextBytes = size_t{256} << 20;

/// The sidecar of a Nexusfile-built (or PATCHed) template: <templates>/<name>/build.json,
/// {"format": 1, "base": {...}, "defaults": {...}, "build_id": "..."} (template.json keeps the
/// rootfs library's format; it has no room for these).
struct TemplateExtras {
  Json base = Json::object();  ///< {"type": "image", "reference", "manifest_digest"} | {"type": "debian", "suite"}
  rootfs::TemplateDefaults defaults;
  std::string build_id;
};
inline constexpr const char* kExtrasFile = "build.json";
/// Reads <dir>/build.json; a template without one has empty extras.
Result<TemplateExtras> read_template_extras(const std::string& template_dir);
/// Writes <dir>/build.json atomically (temporary file, fsync, rename).
Result<void> write_template_extras(const std::string& template_dir, const TemplateExtras& extras);

/// The image a `FROM <image>` uses: found by the loop thread before the build, or pulled by
/// the build through nexusd's own POST /v1/images/pull (config.socket_path).
struct BaseImage {
  std::string reference;        ///< canonical
  std::string manifest_digest;  ///< empty: not pulled yet
  std::string rootfs;           ///< <root>/images/<hex>/rootfs
  oci::ImageConfig config;
};

struct BuildPlan {
  std::string build_id;
  std::string name;
  rootfs::Nexusfile file;
  std::string context_tar;  ///< the decoded build context (a tar), may be empty
  rootfs::TemplateDefaults api_defaults;
  BaseImage image;          ///< for an image base: the reference, and the rest when pulled
  DaemonConfig config;
  /// A seeded template's build (rootfs/seeded_templates.hpp) instead of `file`'s.
  std::optional<rootfs::TemplateDef> seeded;
};

using BuildEmit = std::function<void(Json event)>;

/// Blocking. Steps are 1-based, 1 being FROM. Returns the installed template; on failure the
/// previous template of the name is untouched and the error names the step and its line.
/// `cancel` stops a running step (the build sandbox is killed) soon after it is set.
Result<rootfs::TemplateInfo> run_build(const BuildPlan& plan, const std::atomic<bool>& cancel, const BuildEmit& emit);

/// The steps a seeded template's build reports (1: the mmdebstrap base, 2: installing it).
Json seeded_build_steps(const rootfs::TemplateDef& def);
/// Blocking: plan.seeded's build with the events of run_build. `cancel` is seen between the
/// steps only (mmdebstrap runs to its end).
Result<rootfs::TemplateInfo> run_seeded_build(const BuildPlan& plan, const std::atomic<bool>& cancel, const BuildEmit& emit);

/// Kill and remove build sandboxes an interrupted nexusd left running (<root>/builds/*.json).
void clean_build_leftovers(const DaemonConfig& config);

/// Template defaults seeded from an image config (Env, WorkingDir, User, Entrypoint + Cmd).
rootfs::TemplateDefaults defaults_from_image(const oci::ImageConfig& c);

}  // namespace nexus::daemon
