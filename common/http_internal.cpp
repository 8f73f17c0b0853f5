// SPDX-License-Identifier: Apache-2.0
// Internal helpers shared by the HTTP server and client: owned writes, chunk framing, headers.
#include "common/http_internal.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

#include <fmt/format.h>

#include "common/json.hpp"
#include "common/strings.hpp"

namespace nexus::http::detail {

namespace {
struct OwnedWrite {
  uv_write_t req{};
  std::string data;
  void* owner = nullptr;
};
}  // namespace

int write_owned(uv_stream_t* stream, std::string data, void* owner, uv_write_cb cb) {
  auto* w = new OwnedWrite;
  w->data = std::move(data);
  w->owner = owner;
  w->req.data = w;
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  int rc = uv_write(&w->req, stream, &buf, 1, cb);
  if (rc != 0) delete w;
  return rc;
}

void* take_write_req(uv_write_t* req, size_t* bytes) {
  auto* w = static_cast<OwnedWrite*>(req->data);
  void* owner = w->owner;
  if (bytes) *bytes = w->data.size();
  delete w;
  return owner;
}

std::string chunk_frame(std::string_view data) {
  if (data.empty()) return {};
  std::string out = fmt::format("{:x}\r\n", data.size());
  out.reserve(out.size() + data.size() + 2);
  out.append(data);
  out.append("\r\n");
  return out;
}

bool header_safe(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

void append_headers(std::string& out, const Headers& headers) {
  for (const auto& [name, value] : headers.items()) {
    if (name.empty() || !header_safe(name) || !header_safe(value)) continue;
    out.append(name);
    out.append(": ");
    out.append(value);
    out.append("\r\n");
  }
}

void HeaderCollector::on_field(const char* at, size_t n) {
  if (in_value_) flush(pending_);
  field_.append(at, n);
}

void HeaderCollector::on_value(const char* at, size_t n) {
  in_value_ = true;
  value_.append(at, n);
}

void HeaderCollector::flush(Headers& out) {
  if (!field_.empty()) {
    while (!value_.empty() && (value_.back() == ' ' || value_.back() == '\t')) value_.pop_back();
    out.add(std::move(field_), std::move(value_));
  }
  field_.clear();
  value_.clear();
  in_value_ = false;
}

void HeaderCollector::finish(Headers& out) {
  flush(pending_);
  for (const auto& [n, v] : pending_.items()) out.add(n, v);
  pending_ = Headers{};
}

void HeaderCollector::reset() {
  field_.clear();
  value_.clear();
  in_value_ = false;
  pending_ = Headers{};
}

Result<void> resolve_host(const std::string& host, uint16_t port, sockaddr_storage* out) {
  std::memset(out, 0, sizeof(*out));
  std::string h = host;
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.empty() || iequals(h, "localhost")) h = "127.0.0.1";
  if (uv_ip4_addr(h.c_str(), port, reinterpret_cast<sockaddr_in*>(out)) == 0) return {};
  if (uv_ip6_addr(h.c_str(), port, reinterpret_cast<sockaddr_in6*>(out)) == 0) return {};
  return fail(Errc::invalid_argument,
              fmt::format("cannot resolve host '{}': only numeric addresses and localhost "
                          "are supported", host));
}

std::string error_json(int code, std::string_view message) {
  Json j = {{"code", code}, {"message", std::string(message)}};
  return dump_json(j);
}

Headers json_headers() {
  Headers h;
  h.add("Content-Type", "application/json");
  return h;
}

bool parse_content_length(std::string_view s, uint64_t* out) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace nexus::http::detail
