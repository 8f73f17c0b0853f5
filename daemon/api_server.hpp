// SPDX-License-Identifier: Apache-2.0
// ApiServer: the native HTTP/JSON API (docs/api.md) routed onto the sandbox manager.
#pragma once

#include <memory>
#include <string>

#include "common/http.hpp"
#include "daemon/sandbox_manager.hpp"
#include "daemon/template_service.hpp"

namespace nexus::daemon {

class ApiServer {
 public:
  ApiServer(uv::Loop& loop, SandboxManager& mgr, TemplateService& templates);
  /// Bind the Unix socket (mode 0660; group `nexus` when it exists).
  Result<void> listen(const std::string& socket_path);
  void close() { server_.close(); }

 private:
  void handle(std::shared_ptr<http::Exchange> ex);
  void handle_sandboxes(const std::vector<std::string>& parts, std::shared_ptr<http::Exchange> ex);

  SandboxManager& mgr_;
  TemplateService& templates_;
  http::Server server_;
};

}  // namespace nexus::daemon
