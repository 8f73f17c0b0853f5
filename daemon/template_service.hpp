// SPDX-License-Identifier: Apache-2.0
// TemplateService: the /v1/templates endpoints; builds run on a worker thread and stream
// their progress to every client watching them.
//
// Thread affinity: the daemon loop thread, except the build worker, which only touches the
// BuildJob's mutex-guarded queue.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/http.hpp"
#include "common/json.hpp"
#include "common/uv.hpp"
#include "daemon/config.hpp"
#include "rootfs/template_store.hpp"

namespace nexus::daemon {

class TemplateService {
 public:
  /// `users(name)` counts the live sandboxes whose lower layer is that template's tree; a
  /// rebuild would swap the tree under them, so it is refused while the count is non-zero.
  TemplateService(uv::Loop& loop, const DaemonConfig& config, std::function<size_t(const std::string&)> users);
  ~TemplateService();
  /// parts: the split path, e.g. ["", "v1", "templates", "name", "build"].
  void handle(const std::vector<std::string>& parts, std::shared_ptr<http::Exchange> ex);
  /// Template JSON for `name` (status ready, not_built or building).
  Result<Json> describe(const std::string& name);
  /// The API form of a template; `built` is its stored info, or null when not built.
  Json to_json(const std::string& name, const rootfs::TemplateInfo* built) const;

 private:
  struct BuildJob;
  void start_build(const std::string& name, std::shared_ptr<http::Exchange> ex);
  void pump(BuildJob& job);

  uv::Loop& loop_;
  const DaemonConfig& config_;
  std::function<size_t(const std::string&)> users_;
  std::map<std::string, std::shared_ptr<BuildJob>> builds_;
};

}  // namespace nexus::daemon
