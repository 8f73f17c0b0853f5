// SPDX-License-Identifier: Apache-2.0
// Tests for the agent's Connect error codes and bodies.
#include <catch.hpp>

#include "common/json.hpp"
#include "guest-agent/connect_error.hpp"

using namespace nexus;
using namespace nexus::agent;

TEST_CASE("connect errors have names, statuses and JSON bodies", "[connect]") {
  CHECK(connect_code_name(ConnectCode::invalid_argument) == "invalid_argument");
  CHECK(connect_http_status(ConnectCode::unimplemented) == 501);
  CHECK(connect_http_status(ConnectCode::unauthenticated) == 401);
  CHECK(connect_http_status(ConnectCode::deadline_exceeded) == 504);
  auto j = parse_json(connect_error_json({ConnectCode::not_found, "no such pid"})).value();
  CHECK(j["code"] == "not_found");
  CHECK(j["message"] == "no such pid");
  CHECK(end_stream_payload(nullptr) == "{}");
  ConnectError e{ConnectCode::invalid_argument, "cwd '/nope' does not exist"};
  CHECK(end_stream_payload(&e) ==
        "{\"error\":{\"code\":\"invalid_argument\",\"message\":\"cwd '/nope' does not exist\"}}");
  // Invalid UTF-8 in a message must not throw.
  ConnectError bad{ConnectCode::internal, std::string("bad \xff byte")};
  CHECK_NOTHROW(end_stream_payload(&bad));
  CHECK(to_connect_error(Error(Errc::not_found, "x")).code == ConnectCode::not_found);
  CHECK(to_connect_error(Error::from_errno(ENOSPC, "w")).code == ConnectCode::resource_exhausted);
}
