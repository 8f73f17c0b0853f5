// SPDX-License-Identifier: Apache-2.0
#include "net/egress/http_head.hpp"

#include <llhttp.h>

#include <fmt/format.h>

#include "common/strings.hpp"
#include "net/egress/domain.hpp"

namespace nexus::net::egress {
namespace {

// Collects one head's parts from llhttp's callbacks (pieces may arrive split).
struct HeadCollector {
  RequestHead head;
  std::string field, value;
  bool in_value = false;
  bool complete = false;
  bool too_many = false;

  void flush() {
    if (!field.empty() || in_value) {
      if (head.headers.size() >= kMaxHeaders) too_many = true;
      else head.headers.emplace_back(std::move(field), std::move(value));
    }
    field.clear();
    value.clear();
    in_value = false;
  }
  void reset() {
    head = RequestHead{};
    field.clear();
    value.clear();
    in_value = false;
    complete = false;
  }
};

HeadCollector* collector(llhttp_t* p) { return static_cast<HeadCollector*>(p->data); }

int on_url(llhttp_t* p, const char* at, size_t n) {
  collector(p)->head.url.append(at, n);
  return 0;
}
int on_method(llhttp_t* p, const char* at, size_t n) {
  collector(p)->head.method.append(at, n);
  return 0;
}
int on_field(llhttp_t* p, const char* at, size_t n) {
  auto* c = collector(p);
  if (c->in_value) c->flush();
  c->field.append(at, n);
  return 0;
}
int on_value(llhttp_t* p, const char* at, size_t n) {
  auto* c = collector(p);
  c->in_value = true;
  c->value.append(at, n);
  return 0;
}

void init_settings(llhttp_settings_t& s) {
  llhttp_settings_init(&s);
  s.on_url = on_url;
  s.on_method = on_method;
  s.on_header_field = on_field;
  s.on_header_value = on_value;
}

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 80)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

}  // namespace

std::string RequestHead::host() const {
  std::string h;
  for (const auto& [k, v] : headers)
    if (iequals(k, "host")) h = std::string(trim(v));
  // Strip a port: "example.com:8080", "[::1]:8080".
  if (!h.empty() && h.front() == '[') {
    auto close = h.find(']');
    return close == std::string::npos ? h : h.substr(0, close + 1);
  }
  auto colon = h.find(':');
  if (colon != std::string::npos && h.find(':', colon + 1) == std::string::npos) h.resize(colon);
  return h;
}

std::string RequestHead::serialize() const {
  std::string out = fmt::format("{} {} HTTP/{}.{}\r\n", method, url, http_major, http_minor);
  for (const auto& [k, v] : headers) {
    out += k;
    out += ": ";
    out += v;
    out += "\r\n";
  }
  out += "\r\n";
  return out;
}

void RequestHead::set_header(std::string_view name, std::string_view value) {
  std::erase_if(headers, [&](const auto& kv) { return iequals(kv.first, name); });
  headers.emplace_back(std::string(name), std::string(value));
}

HeadParse parse_request_head(std::string_view data, size_t max_head) {
  HeadParse r;
  llhttp_settings_t settings;
  init_settings(settings);
  settings.on_headers_complete = [](llhttp_t* p) -> int {
    collector(p)->complete = true;
    return HPE_PAUSED;
  };
  HeadCollector c;
  llhttp_t parser;
  llhttp_init(&parser, HTTP_REQUEST, &settings);
  parser.data = &c;
  std::string_view window = data.substr(0, max_head);
  llhttp_errno_t err = llhttp_execute(&parser, window.data(), window.size());
  if (err == HPE_PAUSED && c.complete) {
    c.flush();
    if (c.too_many) {
      r.status = HeadParse::Status::too_large;
      r.error = fmt::format("more than {} headers", kMaxHeaders);
      return r;
    }
    c.head.http_major = parser.http_major;
    c.head.http_minor = parser.http_minor;
    c.head.head_bytes = static_cast<size_t>(llhttp_get_error_pos(&parser) - window.data());
    r.status = HeadParse::Status::ok;
    r.head = std::move(c.head);
    return r;
  }
  if (err != HPE_OK) {
    r.status = HeadParse::Status::bad_request;
    r.error = fmt::format("not an HTTP/1.x request: {}", printable(llhttp_get_error_reason(&parser)));
    return r;
  }
  if (data.size() >= max_head) {
    r.status = HeadParse::Status::too_large;
    r.error = fmt::format("request head longer than {} bytes", max_head);
  }
  return r;
}

struct RequestStream::State {
  std::string host;
  std::vector<InjectHeader> inject;
  size_t max_head;
  llhttp_settings_t settings;
  llhttp_t parser;
  HeadCollector c;
  bool in_head = false;  // between message_begin and headers_complete
  size_t head_size = 0;  // bytes of the current head so far
  bool raw = false;      // after an upgrade: plain pass-through
  size_t requests = 0;
  std::string first_method, first_url;
  bool paused_begin = false, paused_head = false;
};

RequestStream::RequestStream(std::string host, std::vector<InjectHeader> inject, size_t max_head)
    : s_(std::make_unique<State>()) {
  s_->host = std::move(host);
  s_->inject = std::move(inject);
  s_->max_head = max_head;
  init_settings(s_->settings);
  // Pausing at both edges of a head tells where it starts and ends in the raw bytes.
  s_->settings.on_message_begin = [](llhttp_t* p) -> int {
    collector(p)->reset();
    return HPE_PAUSED;
  };
  s_->settings.on_headers_complete = [](llhttp_t* p) -> int {
    collector(p)->complete = true;
    return HPE_PAUSED;
  };
  llhttp_init(&s_->parser, HTTP_REQUEST, &s_->settings);
  s_->parser.data = &s_->c;
}

RequestStream::~RequestStream() = default;
size_t RequestStream::requests() const { return s_->requests; }
const std::string& RequestStream::first_method() const { return s_->first_method; }
const std::string& RequestStream::first_url() const { return s_->first_url; }

Result<void> RequestStream::feed(std::string_view data, std::string& out) {
  State& s = *s_;
  while (!data.empty()) {
    if (s.raw) {
      out.append(data);
      return {};
    }
    llhttp_errno_t err = llhttp_execute(&s.parser, data.data(), data.size());
    size_t used = data.size();
    if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) used = static_cast<size_t>(llhttp_get_error_pos(&s.parser) - data.data());
    std::string_view chunk = data.substr(0, used);
    data.remove_prefix(used);
    if (s.in_head) {
      s.head_size += chunk.size();
    } else {
      out.append(chunk);  // body bytes (or the tail of the previous message) pass unchanged
    }
    if (err == HPE_OK) {
      if (s.in_head && s.head_size > s.max_head)
        return fail(Errc::too_large, fmt::format("request head longer than {} bytes", s.max_head));
      return {};
    }
    if (err == HPE_PAUSED && !s.in_head && !s.c.complete) {
      // message_begin: a new head starts here.
      s.in_head = true;
      s.head_size = 0;
      llhttp_resume(&s.parser);
      continue;
    }
    if ((err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) && s.in_head && s.c.complete) {
      s.c.flush();
      if (s.c.too_many) return fail(Errc::too_large, fmt::format("more than {} headers in a request", kMaxHeaders));
      if (s.head_size > s.max_head)
        return fail(Errc::too_large, fmt::format("request head longer than {} bytes", s.max_head));
      RequestHead& h = s.c.head;
      h.http_major = s.parser.http_major;
      h.http_minor = s.parser.http_minor;
      std::string host = h.host();
      std::string norm;
      if (!host.empty()) {
        auto n = normalize_host(host);
        if (!n) return fail(Errc::protocol, n.error().message());
        norm = std::move(*n);
      }
      if (norm != s.host)
        return fail(Errc::permission_denied, fmt::format("a request on this connection names another host '{}'", printable(host)));
      for (const auto& inj : s.inject) h.set_header(inj.name, inj.value);
      if (s.requests++ == 0) {
        s.first_method = h.method;
        s.first_url = h.url;
      }
      out += h.serialize();
      s.in_head = false;
      s.c.complete = false;
      if (err == HPE_PAUSED_UPGRADE) {
        s.raw = true;
        continue;
      }
      llhttp_resume(&s.parser);
      continue;
    }
    if (err == HPE_PAUSED_UPGRADE) {
      s.raw = true;
      continue;
    }
    return fail(Errc::protocol, fmt::format("not an HTTP/1.x request: {}", printable(llhttp_get_error_reason(&s.parser))));
  }
  if (s.in_head && s.head_size > s.max_head)
    return fail(Errc::too_large, fmt::format("request head longer than {} bytes", s.max_head));
  return {};
}

struct ResponseSniffer::State {
  llhttp_settings_t settings;
  llhttp_t parser;
  int status = 0;
  bool done = false;
};

ResponseSniffer::ResponseSniffer() : s_(std::make_unique<State>()) {
  llhttp_settings_init(&s_->settings);
  s_->settings.on_status_complete = [](llhttp_t* p) -> int {
    auto* st = static_cast<State*>(p->data);
    if (p->status_code < 200) return 0;  // 100 Continue and friends: the real answer follows
    st->status = p->status_code;
    st->done = true;
    return HPE_PAUSED;
  };
  llhttp_init(&s_->parser, HTTP_RESPONSE, &s_->settings);
  s_->parser.data = s_.get();
}
ResponseSniffer::~ResponseSniffer() = default;

void ResponseSniffer::feed(std::string_view data) {
  if (s_->done) return;
  if (llhttp_execute(&s_->parser, data.data(), data.size()) != HPE_OK) s_->done = true;
}

int ResponseSniffer::status() const { return s_->status; }

}  // namespace nexus::net::egress
