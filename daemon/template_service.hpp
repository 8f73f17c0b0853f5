// SPDX-License-Identifier: Apache-2.0
// TemplateService: the /v1/templates endpoints; builds run on a worker thread and stream
// their progress to every client watching them.
//
// Thread affinity: the daemon loop thread, except the build worker, which only touches the
// BuildJob's mutex-guarded queue.
#pragma once

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

namespace nexus::daemon {

class TemplateService {
 public:
  TemplateService(uv::Loop& loop, const DaemonConfig& config);
  ~TemplateService();
  /// parts: the split path, e.g. ["", "v1", "templates", "name", "build"].
  void handle(const std::vector<std::string>& parts, std::shared_ptr<http::Exchange> ex);
  /// Template JSON for `name` (status ready, not_built or building).
  Result<Json> describe(const std::string& name);

 private:
  struct BuildJob;
  void start_build(const std::string& name, std::shared_ptr<http::Exchange> ex);
  void pump(BuildJob& job);

  uv::Loop& loop_;
  const DaemonConfig& config_;
  std::map<std::string, std::shared_ptr<BuildJob>> builds_;
};

}  // namespace nexus::daemon
