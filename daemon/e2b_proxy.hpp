// SPDX-License-Identifier: Apache-2.0
// E2bProxy: forwards envd and code-interpreter traffic (E2b-Sandbox-Id / E2b-Sandbox-Port)
// to the sandbox's agent (its Unix socket, or a microVM's hybrid vsock socket). Bodies are forwarded as they are, streamed both ways with
// back-pressure; nothing is re-encoded. A sandbox that is not running answers 502 as E2B's
// edge does (e2b-protocol.md B.1).
//
// Thread affinity: the daemon loop thread.
#pragma once

#include <memory>
#include <string>

#include "common/http.hpp"
#include "common/uv.hpp"
#include "daemon/sandbox_manager.hpp"

namespace nexus::daemon {

class E2bProxy {
 public:
  E2bProxy(uv::Loop& loop, SandboxManager& mgr) : loop_(loop), mgr_(mgr) {}
  /// Forward to `sandbox_id`'s agent; with `access_token` set, as a request carrying it.
  /// E2b-Sandbox-Port (or `host_port`, from a "PORT-ID.domain" Host) other than the agent's
  /// 49983/49999 goes to that port of the sandbox's own address instead, with its traffic
  /// access token required when its public traffic is off.
  void handle(std::shared_ptr<http::Exchange> ex, const std::string& sandbox_id,
              const std::string& access_token = {}, std::string_view host_port = {});
  /// A /files request authorised by a URL signature instead of a token (B.4): the signature
  /// is checked here against the sandbox named by `sandbox_id`, or, when the caller sent no
  /// E2b-Sandbox-Id (a plain fetch of a signed URL), against every running sandbox; a match
  /// is forwarded with that sandbox's token, anything else answers 401.
  void handle_signed(std::shared_ptr<http::Exchange> ex, const std::string& sandbox_id);
  /// Whether `ex` is such a request (a `signature` query parameter, no X-Access-Token).
  static bool is_signed(const http::RequestHead& head);

 private:
  void forward_to_port(std::shared_ptr<http::Exchange> ex, const std::string& id, std::string_view port);
  void relay(std::shared_ptr<http::Exchange> ex, const std::string& id, const http::Endpoint& target,
             const std::string& access_token, bool to_user_port);
  uv::Loop& loop_;
  SandboxManager& mgr_;
};

/// Whether a header is hop-by-hop (not forwarded by a proxy).
bool is_hop_header(std::string_view name);

}  // namespace nexus::daemon
