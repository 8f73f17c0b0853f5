// SPDX-License-Identifier: Apache-2.0
#include "rootfs/oci/http_transport.hpp"

#include <curl/curl.h>

#include <cerrno>
#include <cctype>
#include <mutex>

#include <fmt/format.h>

#include "common/json.hpp"
#include "common/strings.hpp"

namespace nexus::oci {

namespace {

constexpr size_t kMaxErrorBody = 64 * 1024;
constexpr size_t kMaxHeaderBytes = 64 * 1024;

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { NEXUS_CHECK(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK); });
}

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

// State shared with curl's callbacks for one perform().
struct Exchange {
  CURL* curl = nullptr;
  const BodySink* sink = nullptr;
  const StopCheck* stop = nullptr;
  HttpResponse resp;
  size_t header_bytes = 0;
  bool began = false;
  bool ok_status = false;
  std::optional<Error> sink_error;
};

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  std::string_view line(data, size * n);
  ex->header_bytes += line.size();
  if (ex->header_bytes > kMaxHeaderBytes) return 0;
  if (starts_with(line, "HTTP/")) {  // a new response (after a redirect or 100-continue)
    ex->resp.headers.clear();
    return line.size();
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return line.size();
  std::string name(trim(line.substr(0, colon)));
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.remove_suffix(1);
  ex->resp.headers.emplace_back(std::move(name), std::string(trim(value)));
  return line.size();
}

Result<void> begin_body(Exchange* ex) {
  ex->began = true;
  curl_easy_getinfo(ex->curl, CURLINFO_RESPONSE_CODE, &ex->resp.status);
  ex->ok_status = ex->resp.status >= 200 && ex->resp.status < 300;
  if (ex->ok_status && ex->sink->begin) return ex->sink->begin(ex->resp);
  return {};
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  std::string_view chunk(data, size * n);
  if (ex->stop->stopped()) return 0;
  if (!ex->began) {
    if (auto r = begin_body(ex); !r) {
      ex->sink_error = std::move(r).error();
      return 0;
    }
  }
  if (!ex->ok_status) {
    size_t room = kMaxErrorBody - std::min(kMaxErrorBody, ex->resp.error_body.size());
    ex->resp.error_body.append(chunk.substr(0, room));
    return chunk.size();
  }
  if (auto r = ex->sink->data(chunk); !r) {
    ex->sink_error = std::move(r).error();
    return 0;
  }
  return chunk.size();
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* ex = static_cast<Exchange*>(user);
  return ex->stop->stopped() ? 1 : 0;
}

bool transient_curl_error(CURLcode c) {
  switch (c) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return {};
}

std::vector<std::string> HttpResponse::all(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : headers)
    if (k == name) out.push_back(v);
  return out;
}

struct HttpSession::Handle {
  CURL* curl = nullptr;
  ~Handle() {
    if (curl) curl_easy_cleanup(curl);
  }
};

HttpSession::HttpSession(TransferLimits limits) : h_(std::make_unique<Handle>()), limits_(std::move(limits)) {
  global_init();
  h_->curl = curl_easy_init();
  NEXUS_CHECK(h_->curl != nullptr);
}

HttpSession::~HttpSession() = default;

tl::expected<HttpResponse, TransferError> HttpSession::perform(const HttpRequest& req, const BodySink& sink,
                                                               const StopCheck& stop) {
  CURL* c = h_->curl;
  curl_easy_reset(c);
  Exchange ex;
  ex.curl = c;
  ex.sink = &sink;
  ex.stop = &stop;
  Slist headers;
  for (const auto& h : req.headers) {
    curl_slist* next = curl_slist_append(headers.get(), h.c_str());
    NEXUS_CHECK(next != nullptr);
    (void)headers.release();
    headers.reset(next);
  }
  std::string range = req.range_from > 0 ? fmt::format("{}-", req.range_from) : "";
  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, req.https_only_redirects ? "https" : "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, limits_.user_agent.c_str());
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, limits_.connect_timeout_s);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, limits_.stall_timeout_s);
  if (!limits_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, limits_.ca_file.c_str());
  if (!range.empty()) curl_easy_setopt(c, CURLOPT_RANGE, range.c_str());
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &ex);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &ex);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &ex);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);

  CURLcode rc = curl_easy_perform(c);
  if (ex.sink_error) return tl::unexpected(TransferError{std::move(*ex.sink_error), false});
  if (stop.stopped()) return tl::unexpected(TransferError{Error::from_errno(ECANCELED, "transfer"), false});
  if (rc != CURLE_OK) {
    return tl::unexpected(TransferError{
        Error(Errc::unavailable, fmt::format("{}: {}", req.url, curl_easy_strerror(rc))), transient_curl_error(rc)});
  }
  if (!ex.began) {  // an empty body: the sink still learns the response
    if (auto r = begin_body(&ex); !r) return tl::unexpected(TransferError{std::move(r).error(), false});
  }
  return std::move(ex.resp);
}

std::string registry_error_summary(std::string_view body) {
  std::string out;
  if (auto doc = parse_json(body); doc && doc->is_object()) {
    auto errs = doc->find("errors");
    if (errs != doc->end() && errs->is_array()) {
      for (const auto& e : *errs) {
        if (!e.is_object()) continue;
        auto code = json_string(e, "code");
        auto msg = json_string(e, "message");
        if (!out.empty()) out += "; ";
        out += (code ? *code : "") + (msg && !msg->empty() ? ": " + *msg : "");
      }
    }
  }
  if (out.empty()) out = std::string(body.substr(0, 200));
  if (out.size() > 300) out.resize(300);
  for (auto& ch : out)
    if (static_cast<unsigned char>(ch) < 0x20) ch = ' ';
  return std::string(trim(out));
}

}  // namespace nexus::oci
