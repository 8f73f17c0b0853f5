// SPDX-License-Identifier: Apache-2.0
// GET /files (download) and POST /files (upload) of the envd protocol.
#pragma once

#include <memory>

#include "common/http.hpp"
#include "guest-agent/agent_state.hpp"

namespace nexus::agent {

/// The REST status for an Error: 400, 401, 403, 404, 413, 507 or 500.
int files_http_status(const Error& error);
/// Send {"code":<status>,"message":...} with that status (and any extra `headers`).
void respond_rest_error(http::Exchange& ex, int status, std::string_view message, http::Headers headers = {});

class FilesService {
 public:
  explicit FilesService(AgentState& state) : state_(state) {}
  void download(std::shared_ptr<http::Exchange> ex);
  void upload(std::shared_ptr<http::Exchange> ex);

 private:
  AgentState& state_;
};

}  // namespace nexus::agent
