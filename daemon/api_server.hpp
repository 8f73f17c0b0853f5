// SPDX-License-Identifier: Apache-2.0
// ApiServer: the native HTTP/JSON API (docs/api.md) routed onto the sandbox manager.
#pragma once

#include <memory>
#include <string>

#include "common/http.hpp"
#include "common/unique_fd.hpp"
#include "daemon/auth.hpp"
#include "daemon/image_service.hpp"
#include "daemon/sandbox_manager.hpp"
#include "daemon/template_service.hpp"

namespace nexus::daemon {

class ApiServer {
 public:
  ApiServer(uv::Loop& loop, SandboxManager& mgr, TemplateService& templates, KeyService& keys,
            ImageService& images);
  /// Bind the Unix socket (mode 0660; group `nexus` when it exists).
  Result<void> listen(const std::string& socket_path);
  /// Serve on an inherited listening socket (systemd socket activation).
  Result<void> listen_fd(UniqueFd fd) { return server_.listen_fd(std::move(fd)); }
  /// The E2B endpoint's URL, reported by GET /v1/e2b ("" when it is off).
  void set_e2b_url(std::string url) { e2b_url_ = std::move(url); }
  void close() { server_.close(); }

 private:
  void reply_port(const std::string& id, const std::string& port, const std::shared_ptr<http::Exchange>& ex);
  void handle(std::shared_ptr<http::Exchange> ex);
  void handle_sandboxes(const Principal& who, const std::vector<std::string>& parts,
                        std::shared_ptr<http::Exchange> ex);
  void handle_keys(const Principal& who, const std::vector<std::string>& parts,
                   std::shared_ptr<http::Exchange> ex);
  /// The sandbox `id` if `who` may see it (not_found for other users' sandboxes).
  Result<SandboxRecord> visible(const Principal& who, const std::string& id);

  SandboxManager& mgr_;
  TemplateService& templates_;
  ImageService& images_;
  KeyService& keys_;
  std::string e2b_url_;
  http::Server server_;
};

}  // namespace nexus::daemon
