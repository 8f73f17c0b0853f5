// SPDX-License-Identifier: Apache-2.0
// The synchronous API client over common/http's asynchronous one.
#include "cli/api_client.hpp"

#include <exception>
#include <optional>

#include <fmt/format.h>

#include "cli/exit_codes.hpp"
#include "common/http.hpp"
#include "common/uv.hpp"

namespace nexus::cli {

namespace {

constexpr size_t max_answer_bytes = 64 * 1024 * 1024;

std::string reason_text(const Error& e) {
  if (e.errno_value() != 0) return e.code().message();
  return e.message();
}

ApiFailure error_from_body(int status, const std::string& body) {
  ApiFailure f;
  f.kind = ApiFailure::Kind::api;
  f.http_status = status;
  auto json = parse_json(body);
  if (json && json->is_object() && json->contains("error") && (*json)["error"].is_object()) {
    const Json& e = (*json)["error"];
    if (e.contains("code") && e["code"].is_string()) f.code = e["code"].get<std::string>();
    if (e.contains("message") && e["message"].is_string())
      f.message = e["message"].get<std::string>();
  }
  if (f.message.empty())
    f.message = fmt::format("nexusd answered HTTP {} {}", status, http::reason_phrase(status));
  return f;
}

/// One request/response exchange, run to completion on a private loop.
class Exchange {
 public:
  Exchange(const std::string& socket, const ApiRequest& request,
           const std::function<void(const Json&)>* on_event)
      : socket_(socket), request_(request), on_event_(on_event) {}

  ApiResult<std::string> run() {
    uv::Loop loop;
    http::ClientRequest req;
    req.method = request_.method;
    req.target = request_.target;
    req.headers.add("Accept", on_event_ ? "application/x-ndjson" : "application/json");
    if (request_.body) {
      req.headers.add("Content-Type", "application/json");
      req.body = dump_json(*request_.body);
    }
    http::ResponseCallbacks cbs;
    cbs.on_head = [this](const http::ResponseHead& head) noexcept {
      got_head_ = true;
      status_ = head.status;
    };
    cbs.on_data = [this](std::string_view data) noexcept { on_data(data); };
    cbs.on_end = [this](Result<void> r) noexcept { end_ = std::move(r); };
    call_ = http::request(loop, http::Endpoint::unix_socket(socket_), std::move(req),
                          std::move(cbs));
    loop.run();
    call_.reset();

    if (failure_) return tl::unexpected(*failure_);
    if (!end_) return fail_protocol("the connection to nexusd ended without an answer");
    if (!*end_) {
      ApiFailure f;
      f.kind = got_head_ ? ApiFailure::Kind::protocol : ApiFailure::Kind::unreachable;
      f.message = got_head_ ? "the connection to nexusd broke: " + reason_text(end_->error())
                            : reason_text(end_->error());
      return tl::unexpected(f);
    }
    if (!ok_status()) return tl::unexpected(error_from_body(status_, body_));
    if (on_event_ && !line_.empty()) {
      deliver_line(line_);
      if (failure_) return tl::unexpected(*failure_);
    }
    return std::move(body_);
  }

 private:
  bool ok_status() const { return status_ >= 200 && status_ < 300; }

  static tl::unexpected<ApiFailure> fail_protocol(std::string message) {
    return tl::unexpected(ApiFailure{ApiFailure::Kind::protocol, 0, {}, std::move(message)});
  }

  void on_data(std::string_view data) {
    if (failure_) return;
    if (!on_event_ || !ok_status()) {
      if (body_.size() + data.size() > max_answer_bytes) {
        failure_ = ApiFailure{ApiFailure::Kind::protocol, status_, {}, "answer too large"};
        if (call_) call_->cancel();
        return;
      }
      body_.append(data);
      return;
    }
    line_.append(data);
    size_t start = 0;
    for (size_t nl; (nl = line_.find('\n', start)) != std::string::npos; start = nl + 1) {
      deliver_line(std::string_view(line_).substr(start, nl - start));
      if (failure_) {
        if (call_) call_->cancel();
        return;
      }
    }
    line_.erase(0, start);
  }

  void deliver_line(std::string_view line) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty()) return;
    auto event = parse_json(line);
    if (!event) {
      failure_ = ApiFailure{ApiFailure::Kind::protocol, status_, {},
                            "malformed event from nexusd: " + event.error().message()};
      return;
    }
    try {
      (*on_event_)(*event);
    } catch (const std::exception& e) {
      failure_ = ApiFailure{ApiFailure::Kind::protocol, status_, {},
                            std::string("unexpected event from nexusd: ") + e.what()};
    }
  }

  const std::string& socket_;
  const ApiRequest& request_;
  const std::function<void(const Json&)>* on_event_;
  std::shared_ptr<http::ClientCall> call_;
  bool got_head_ = false;
  int status_ = 0;
  std::string body_;
  std::string line_;
  std::optional<Result<void>> end_;
  std::optional<ApiFailure> failure_;
};

}  // namespace

ApiResult<Json> ApiClient::call(const ApiRequest& request) const {
  Exchange exchange(socket_path_, request, nullptr);
  auto body = exchange.run();
  if (!body) return tl::unexpected(body.error());
  if (body->empty()) return Json();
  auto json = parse_json(*body);
  if (!json)
    return tl::unexpected(ApiFailure{ApiFailure::Kind::protocol, 0, {},
                                     "malformed answer from nexusd: " + json.error().message()});
  return std::move(*json);
}

ApiResult<void> ApiClient::stream(const ApiRequest& request,
                                  const std::function<void(const Json&)>& on_event) const {
  Exchange exchange(socket_path_, request, &on_event);
  auto body = exchange.run();
  if (!body) return tl::unexpected(body.error());
  return {};
}

int failure_exit_code(const ApiFailure& failure, bool running_code) {
  if (running_code) return exit_nexus_error;
  switch (failure.kind) {
    case ApiFailure::Kind::unreachable: return exit_unreachable;
    case ApiFailure::Kind::api:
      return failure.http_status == 404 ? exit_not_found : exit_failed;
    case ApiFailure::Kind::protocol: return exit_failed;
  }
  return exit_failed;
}

std::string failure_message(const ApiFailure& failure, const std::string& socket_path) {
  if (failure.kind == ApiFailure::Kind::unreachable)
    return fmt::format("cannot connect to nexusd at {}: {} (is nexusd running?)", socket_path,
                       failure.message);
  return failure.message;
}

int report_failure(const Console& console, const ApiFailure& failure,
                   const std::string& socket_path, bool running_code) {
  console.err(fmt::format("nexus: {}\n", failure_message(failure, socket_path)));
  return failure_exit_code(failure, running_code);
}

std::optional<Json> call_for_text(const Command& cmd, const ApiClient& api, const Console& console, int* exit_code) {
  auto answer = api.call(cmd.request);
  if (!answer) {
    *exit_code = report_failure(console, answer.error(), cmd.socket, false);
    return std::nullopt;
  }
  *exit_code = exit_ok;
  if (!cmd.json) return std::move(*answer);
  console.out(json_text(*answer));
  return std::nullopt;
}

}  // namespace nexus::cli
