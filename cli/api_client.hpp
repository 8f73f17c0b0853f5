// SPDX-License-Identifier: Apache-2.0
// A synchronous client of the native API: each call runs its own uv::Loop until the
// response is complete. Single-threaded; callbacks run on the calling thread.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include <tl/expected.hpp>

#include "cli/output.hpp"
#include "cli/request.hpp"
#include "common/json.hpp"

namespace nexus::cli {

/// Why an API call did not give a 2xx answer.
struct ApiFailure {
  enum class Kind {
    unreachable,  ///< could not connect to nexusd
    api,          ///< nexusd answered with an error ({"error": {"code", "message"}})
    protocol,     ///< a malformed answer, or the connection broke mid-answer
  };
  Kind kind = Kind::api;
  int http_status = 0;
  std::string code;     ///< the API's error code ("not_found"), if any
  std::string message;  ///< the API's message, or what went wrong
};

template <class T = void>
using ApiResult = tl::expected<T, ApiFailure>;

class ApiClient {
 public:
  explicit ApiClient(std::string socket_path) : socket_path_(std::move(socket_path)) {}

  const std::string& socket_path() const { return socket_path_; }

  /// Make the request and return the 2xx answer's JSON body (null for an empty body).
  ApiResult<Json> call(const ApiRequest& request) const;

  /// Make the request and hand each line of a 2xx NDJSON answer to `on_event` as it arrives.
  /// `on_event` may throw nlohmann::json exceptions; they become protocol failures.
  ApiResult<void> stream(const ApiRequest& request,
                         const std::function<void(const Json&)>& on_event) const;

 private:
  std::string socket_path_;
};

/// Print the failure as `nexus: <message>` to stderr and return the exit status for it:
/// 1 (API error), 3 (unreachable), 4 (not found); 125 for all of them when `running_code`.
int report_failure(const Console& console, const ApiFailure& failure,
                   const std::string& socket_path, bool running_code);

/// The start of a command that prints its answer: make cmd.request, report a failure, and
/// with --json print the answer as it is. Returns the answer only when the caller is still
/// to print it as text; otherwise the command is done and `*exit_code` is its status.
std::optional<Json> call_for_text(const Command& cmd, const ApiClient& api, const Console& console, int* exit_code);

/// The exit status report_failure() gives, without printing.
int failure_exit_code(const ApiFailure& failure, bool running_code);
/// The text report_failure() prints after "nexus: ".
std::string failure_message(const ApiFailure& failure, const std::string& socket_path);

}  // namespace nexus::cli
