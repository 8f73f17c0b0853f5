// SPDX-License-Identifier: Apache-2.0
// TemplateService: the /v1/templates and /v1/builds endpoints (docs/api.md). Builds run on a
// worker thread each and stream their events to every client watching them: the seeded
// templates' mmdebstrap builds (POST /v1/templates/{name}/build) and Nexusfile builds
// (POST /v1/templates, daemon/template_build.hpp). Both are jobs with an id, replayable
// events (GET /v1/builds/{id}/events) and a state kept after they end (the last
// kKeptBuilds, in memory).
//
// Thread affinity: the daemon loop thread, except the build workers, which only touch their
// job's mutex-guarded queue.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/http.hpp"
#include "common/json.hpp"
#include "common/uv.hpp"
#include "daemon/config.hpp"
#include "rootfs/template_defaults.hpp"
#include "rootfs/template_store.hpp"

namespace nexus::daemon {

class ImageService;
struct BuildPlan;

class TemplateService {
 public:
  /// `users(name)` counts the live sandboxes whose lower layer is that template's tree; a
  /// rebuild would swap the tree under them, so it is refused while the count is non-zero.
  TemplateService(uv::Loop& loop, const DaemonConfig& config, std::function<size_t(const std::string&)> users);
  ~TemplateService();  ///< cancels running Nexusfile builds and waits for the workers
  /// FROM <image> looks images up here (set once by the API server).
  void set_images(ImageService* images) { images_ = images; }
  /// parts: the split path, e.g. ["", "v1", "templates", "name", "build"].
  void handle(const std::vector<std::string>& parts, std::shared_ptr<http::Exchange> ex);
  /// parts: ["", "v1", "builds", "bld_x"(, "events")].
  void handle_builds(const std::vector<std::string>& parts, std::shared_ptr<http::Exchange> ex);
  /// Template JSON for `name` (status ready, not_built or building).
  Result<Json> describe(const std::string& name);
  /// The API form of a template; `built` is its stored info, or null when not built.
  Json to_json(const std::string& name, const rootfs::TemplateInfo* built) const;

 private:
  struct Job;  // a build: a Nexusfile's or a seeded template's
  void start_build(const std::string& name, std::shared_ptr<http::Exchange> ex);
  /// Record a new job for `name` (its "build" event and the warnings), launch its worker and
  /// return its id.
  std::string start_job(const std::string& name, const Json& steps, std::unique_ptr<BuildPlan> plan,
                        const std::vector<std::string>& warnings);

  struct BodyParse;
  void parse_create_body(std::string body, std::shared_ptr<http::Exchange> ex);
  /// POST /v1/templates with its body parsed and "context" already decoded (and removed).
  void create(Json body, std::string context_tar, std::shared_ptr<http::Exchange> ex);
  void patch(const std::string& name, std::shared_ptr<http::Exchange> ex);
  void remove(const std::string& name, std::shared_ptr<http::Exchange> ex);
  Result<void> refuse_if_busy(const std::string& name, const char* doing) const;
  void launch(std::shared_ptr<Job> job, std::unique_ptr<BuildPlan> plan);
  void pump_job(Job& job);
  void record(Job& job, const Json& ev);
  Json job_json(const Job& job) const;
  void watch(Job& job, std::shared_ptr<http::Exchange> ex, bool follow);
  void stop_jobs();

  uv::Loop& loop_;
  const DaemonConfig& config_;
  std::function<size_t(const std::string&)> users_;
  ImageService* images_ = nullptr;
  std::map<std::string, std::shared_ptr<Job>> jobs_;  // builds, by id
  std::map<std::string, std::string> running_;               // template name -> running build id
  std::deque<std::string> finished_;                         // ids of ended jobs, oldest first
  std::vector<std::shared_ptr<BodyParse>> parses_;           // build requests being parsed
};

}  // namespace nexus::daemon
