// SPDX-License-Identifier: Apache-2.0
// One connection's state, shared by connection.cpp (accept, decide, connect) and splice.cpp
// (lifecycle, the two data paths, backpressure). Gateway thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/egress/gateway_internal.hpp"

namespace nexus::net::egress {

namespace conn {
int64_t steady_ms();
}

struct Connection {
  Gateway::Impl* gw;
  bool tls;  // came in on the TLS listener
  uv_tcp_t client{};
  uv_tcp_t* upstream = nullptr;  // one per connect attempt
  uv_timer_t timer{};
  int open_handles = 0;
  int pending_work = 0;  // queued credential lookups and write requests hold the connection
  bool closing = false;
  bool finished = false;
  bool counted = false;  // in gw->per_sandbox

  int64_t start_steady = conn::steady_ms();
  AuditRecord rec;
  Endpoint peer, orig_dst;
  std::shared_ptr<const SandboxState> sb;
  std::shared_ptr<const GlobalPolicy> global;

  enum class Phase { first_bytes, deciding, connecting, splicing } phase = Phase::first_bytes;
  std::string inbuf;         // what the sandbox sent before the upstream was ready
  std::string host;          // normalized SNI / Host; empty when none
  bool domain_allowed = false;
  std::vector<Endpoint> candidates;
  size_t next_candidate = 0;
  std::string last_connect_error;
  uint64_t resolve_id = 0;
  bool resolving = false;

  std::vector<InjectHeader> inject;
  bool intercept = false;
  std::unique_ptr<RequestStream> requests;
  ResponseSniffer responses;
  bool sniff_responses = false;
  std::unique_ptr<TlsPipe> tls_client;    // facing the sandbox (we are the server)
  std::unique_ptr<TlsPipe> tls_upstream;  // facing the real server (we are the client)

  bool client_eof = false, upstream_eof = false;
  bool client_reading = false, upstream_reading = false;
  bool client_paused = false, upstream_paused = false;  // by backpressure
  bool upstream_shut = false, client_shut = false;

  explicit Connection(Gateway::Impl* g, bool t) : gw(g), tls(t) {}
  uv_stream_t* cs() { return reinterpret_cast<uv_stream_t*>(&client); }
  uv_stream_t* us() { return reinterpret_cast<uv_stream_t*>(upstream); }
};

namespace conn {

/// Printable ASCII, at most 2 KiB: for audit fields taken from the sandbox.
std::string printable(std::string_view s);

// Lifecycle (splice.cpp).
void maybe_delete(Connection* c);
void close_handle(Connection* c, uv_handle_t* h);
/// Audit once; the outcome of the first call stands.
void finish(Connection* c, Outcome outcome, std::string reason);
void close_now(Connection* c);
void arm_timer(Connection* c, uint64_t ms, void (*cb)(uv_timer_t*));
void on_idle(uv_timer_t* t);
void touch(Connection* c);

// Writing and the data paths (splice.cpp).
void write_to(Connection* c, bool to_client, std::string data);
void shutdown_side(Connection* c, bool client_side);
/// A short answer from the gateway itself (HTTP only; TLS is closed), then close.
void respond_and_close(Connection* c, int status, std::string_view reason_phrase, const std::string& text);
void deny(Connection* c, const std::string& reason);
void fail_request(Connection* c, int status, std::string_view phrase, const std::string& reason);
void pump_upstream_tls(Connection* c);
void from_client(Connection* c, std::string_view data);
void start_client_reading(Connection* c);
void start_upstream_reading(Connection* c);

// Deciding (connection.cpp): called by the reader with the first bytes.
void on_first_bytes(Connection* c);

}  // namespace conn
}  // namespace nexus::net::egress
