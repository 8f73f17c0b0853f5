// SPDX-License-Identifier: Apache-2.0
// Connect RPC request helpers.
#include "guest-agent/rpc_request.hpp"

#include <charconv>
#include <limits>

#include <fmt/format.h>

#include "common/connect_envelope.hpp"
#include "common/strings.hpp"
#include "guest-agent/connect_error.hpp"
#include "guest-agent/process_service.hpp"

namespace nexus::agent {

namespace {

constexpr uint64_t kMaxTimeoutMs = 365ULL * 24 * 3600 * 1000;
constexpr uint64_t kMaxKeepaliveSeconds = 3600;

ConnectError invalid(std::string message) {
  return ConnectError{ConnectCode::invalid_argument, std::move(message)};
}

}  // namespace

std::optional<uint64_t> header_number(const http::RequestHead& head, std::string_view name) {
  auto v = head.headers.get(name);
  if (!v) return std::nullopt;
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || p != v->data() + v->size()) return std::nullopt;
  return n;
}

uint64_t keepalive_interval_ms(const http::RequestHead& head) {
  uint64_t s = header_number(head, "Keepalive-Ping-Interval").value_or(kDefaultKeepaliveSeconds);
  if (s == 0 || s > kMaxKeepaliveSeconds) s = kDefaultKeepaliveSeconds;
  return s * 1000;
}

std::optional<uint64_t> connect_timeout_ms(const http::RequestHead& head) {
  auto t = header_number(head, "Connect-Timeout-Ms");
  if (!t || *t == 0) return std::nullopt;
  return std::min(*t, kMaxTimeoutMs);
}

Result<std::string> basic_auth_user(const http::RequestHead& head) {
  auto v = head.headers.get("Authorization");
  if (!v) return std::string();
  std::string_view s = *v;
  if (s.size() < 6 || !iequals(s.substr(0, 6), "Basic "))
    return fail(Errc::unauthenticated, "unsupported Authorization scheme");
  auto decoded = base64_decode(s.substr(6));
  if (!decoded) return fail(Errc::unauthenticated, "malformed Basic credentials");
  auto colon = decoded->find(':');
  return decoded->substr(0, colon);
}

Result<uint32_t> json_uint32(const Json& obj, const char* key, uint32_t def) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return def;
  constexpr uint64_t kMax = std::numeric_limits<uint32_t>::max();
  if (it->is_number_unsigned() && it->get<uint64_t>() <= kMax)
    return static_cast<uint32_t>(it->get<uint64_t>());
  if (it->is_number_integer() && it->get<int64_t>() >= 0 &&
      static_cast<uint64_t>(it->get<int64_t>()) <= kMax)
    return static_cast<uint32_t>(it->get<int64_t>());
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    uint32_t n = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec == std::errc() && p == s.data() + s.size() && !s.empty()) return n;
  }
  return fail(Errc::invalid_argument, fmt::format("'{}' must be an unsigned 32-bit integer", key));
}

void read_rpc_request(std::shared_ptr<http::Exchange> ex, bool streaming,
                      std::function<void(Json)> on_request) {
  using namespace nexus::connectrpc;
  if (streaming != is_connect_stream_request(ex->request())) {
    return respond_unary_error(
        *ex, invalid(streaming ? "expected Content-Type application/connect+json"
                               : "expected Content-Type application/json"),
        415);
  }
  size_t limit = kMaxRpcMessageBytes + (streaming ? kEnvelopePrefixBytes : 0);
  ex->read_body(limit, [ex, streaming, cb = std::move(on_request)](Result<std::string> body) {
    if (!body) return;  // too large (the server answered 413) or the client went away
    if (streaming) {
      auto env = decode_single_envelope(*body, kMaxRpcMessageBytes);
      if (!env) return respond_stream_error(*ex, to_connect_error(env.error()));
      auto req = parse_json(env->payload);
      if (!req || !req->is_object())
        return respond_stream_error(*ex, invalid("request is not a JSON object"));
      return cb(std::move(*req));
    }
    auto req = parse_json(body->empty() ? std::string_view("{}") : std::string_view(*body));
    if (!req || !req->is_object())
      return respond_unary_error(*ex, invalid("request is not a JSON object"));
    cb(std::move(*req));
  });
}

void respond_unary(http::Exchange& ex, const Json& message) {
  http::Headers h;
  h.set("Content-Type", "application/json");
  ex.respond(200, std::move(h), dump_json(message));
}

}  // namespace nexus::agent
