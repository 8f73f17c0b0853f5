// SPDX-License-Identifier: Apache-2.0
// End-to-end tests of the CLI against a fake nexusd on a temporary Unix socket:
// exit statuses, human and JSON output, streamed exec and build events.
#include <unistd.h>

#include <catch.hpp>
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"
#include "common/strings.hpp"
#include "captured.hpp"
#include "fake_nexusd.hpp"

using namespace nexus;
using namespace nexus::cli;
using nexus::cli::test::FakeNexusd;
using nexus::cli::test::Reply;
using nexus::cli::test::SeenRequest;

namespace {

/// 120 columns, and "now" an hour after the fixtures' built_at.
struct Captured : test::Captured {
  Captured() : test::Captured(120, [] { return *parse_rfc3339_ms("2026-11-22T02:05:00.000Z"); }) {}
};

std::string temp_socket() { return test::temp_socket("cli-test"); }

int run(Captured& c, const std::string& socket, std::vector<std::string> args) {
  args.insert(args.begin(), {"--socket", socket});
  CommandEnv env;
  env.read_stdin = []() -> Result<std::string> { return std::string("print(1)"); };
  return run_cli(args, c.console, env);
}

const char* sandbox_json =
    R"({"sandbox_id": "sb_abcdefghij0123456789", "name": "demo", "status": "active",
        "template": "ai-agent-default", "isolation": "jail", "cpus": 1, "memory_mib": 512,
        "env": {"K": "V"}, "owner": "root",
        "created_at": "2026-11-22T02:03:00.000Z", "expires_at": "2026-11-22T02:33:00.000Z",
        "last_active_at": "2026-11-22T02:04:00.000Z", "uptime_seconds": 120})";

std::string not_found(const std::string& id) {
  return R"({"error": {"code": "not_found", "message": "sandbox ')" + id + R"(' not found"}})";
}

Json last_body(FakeNexusd& server) {
  auto seen = server.requests();
  REQUIRE_FALSE(seen.empty());
  return Json::parse(seen.back().body);
}

std::string last_target(FakeNexusd& server) {
  auto seen = server.requests();
  REQUIRE_FALSE(seen.empty());
  return seen.back().target;
}

std::string event(const Json& j) { return j.dump() + "\n"; }

}  // namespace

TEST_CASE("no daemon: exit 3, or 125 while running code", "[cli][client]") {
  std::string socket = temp_socket();  // nothing listens here
  Captured c;
  CHECK(run(c, socket, {"sandbox", "list"}) == exit_unreachable);
  CHECK_THAT(c.err, Catch::StartsWith("nexus: cannot connect to nexusd at " + socket + ": "));
  CHECK_THAT(c.err, Catch::EndsWith("(is nexusd running?)\n"));

  Captured r;
  CHECK(run(r, socket, {"sandbox", "run", "sb_1", "-c", "1"}) == exit_nexus_error);
  Captured e;
  CHECK(run(e, socket, {"sandbox", "exec", "sb_1", "--", "true"}) == exit_nexus_error);
}

TEST_CASE("API errors: 404 exits 4, others 1, with the API's message", "[cli][client]") {
  FakeNexusd server(temp_socket(), [](const SeenRequest& req) -> Reply {
    if (req.target.ends_with("/pause"))
      return FakeNexusd::json(
          409, R"({"error":{"code":"conflict","message":"sandbox 'sb_1' is paused"}})");
    return FakeNexusd::json(404, not_found("sb_x"));
  });
  Captured c;
  CHECK(run(c, server.path(), {"sandbox", "status", "sb_x"}) == exit_not_found);
  CHECK(c.err == "nexus: sandbox 'sb_x' not found\n");
  CHECK(c.out.empty());

  Captured p;
  CHECK(run(p, server.path(), {"sandbox", "pause", "sb_1"}) == exit_failed);
  CHECK(p.err == "nexus: sandbox 'sb_1' is paused\n");

  Captured r;
  CHECK(run(r, server.path(), {"sandbox", "run", "sb_x", "-c", "1"}) == exit_nexus_error);
  CHECK(r.err == "nexus: sandbox 'sb_x' not found\n");
}

TEST_CASE("create, pause, resume, stop, status", "[cli][client]") {
  FakeNexusd server(temp_socket(), [](const SeenRequest& req) -> Reply {
    return FakeNexusd::json(req.method == "POST" && req.target == "/v1/sandboxes" ? 201 : 200,
                            sandbox_json);
  });
  Captured c;
  CHECK(run(c, server.path(), {"sandbox", "create", "demo", "--ttl", "30", "--env", "K=V"}) == 0);
  CHECK(c.out == "Created sandbox: sb_abcdefghij0123456789\n");
  auto seen = server.requests();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].method == "POST");
  CHECK(seen[0].target == "/v1/sandboxes");
  CHECK(Json::parse(seen[0].body) ==
        Json{{"name", "demo"}, {"ttl_seconds", 1800}, {"env", {{"K", "V"}}}});

  Captured q;
  CHECK(run(q, server.path(), {"sandbox", "create", "-q"}) == 0);
  CHECK(q.out == "sb_abcdefghij0123456789\n");

  Captured j;
  CHECK(run(j, server.path(), {"sandbox", "create", "--json"}) == 0);
  Json created = Json::parse(j.out);
  for (const char* key : {"sandbox_id", "name", "status", "template", "expires_at"})
    CHECK(created.contains(key));

  Captured p, r, s;
  CHECK(run(p, server.path(), {"sandbox", "pause", "sb_abcdefghij0123456789"}) == 0);
  CHECK(p.out == "Paused sandbox: sb_abcdefghij0123456789\n");
  CHECK(run(r, server.path(), {"sandbox", "resume", "sb_abcdefghij0123456789"}) == 0);
  CHECK(r.out == "Resumed sandbox: sb_abcdefghij0123456789\n");
  CHECK(run(s, server.path(), {"sandbox", "stop", "sb_abcdefghij0123456789"}) == 0);
  CHECK(s.out == "Stopped sandbox: sb_abcdefghij0123456789\n");
  CHECK(server.requests().at(server.requests().size() - 1).method == "DELETE");

  Captured st;
  CHECK(run(st, server.path(), {"sandbox", "status", "sb_abcdefghij0123456789"}) == 0);
  CHECK_THAT(st.out, Catch::Contains("Sandbox ID:  sb_abcdefghij0123456789\n"));
  CHECK_THAT(st.out, Catch::Contains("Status:      active\n"));
  CHECK_THAT(st.out, Catch::Contains("Expires:     2026-11-22T02:33:00.000Z (in 28m)\n"));
  CHECK_THAT(st.out, Catch::Contains("Uptime:      2m 0s\n"));

  Captured sj;
  CHECK(run(sj, server.path(), {"sandbox", "status", "sb_abcdefghij0123456789", "--json"}) == 0);
  Json status = Json::parse(sj.out);
  for (const char* key : {"sandbox_id", "name", "status", "template", "created_at",
                          "expires_at", "last_active_at", "uptime_seconds"})
    CHECK(status.contains(key));
}

TEST_CASE("list: a table, or a JSON array", "[cli][client]") {
  FakeNexusd server(temp_socket(), [](const SeenRequest&) -> Reply {
    return FakeNexusd::json(200, std::string(R"({"sandboxes": [)") + sandbox_json + "]}");
  });
  Captured c;
  CHECK(run(c, server.path(), {"sandbox", "list"}) == 0);
  CHECK(c.out ==
        "SANDBOX ID                NAME   STATUS   TEMPLATE           CREATED   EXPIRES\n"
        "sb_abcdefghij0123456789   demo   active   ai-agent-default   2m ago    in 28m\n");
  Captured j;
  CHECK(run(j, server.path(), {"sandbox", "list", "--json", "--all"}) == 0);
  Json list = Json::parse(j.out);
  REQUIRE(list.is_array());
  CHECK(list[0]["sandbox_id"] == "sb_abcdefghij0123456789");
  CHECK(last_target(server) == "/v1/sandboxes?all=1");
}

TEST_CASE("run: output, exit status passthrough, timeout", "[cli][client]") {
  FakeNexusd server(temp_socket(), [](const SeenRequest& req) -> Reply {
    Json body = Json::parse(req.body);
    if (body["code"] == "slow")
      return FakeNexusd::json(200, R"({"sandbox_id":"sb_1","stdout":"partial","stderr":"",
          "exit_code":-1,"execution_time":2.0,"timed_out":true,
          "error":"Code execution exceeded 2 second timeout"})");
    return FakeNexusd::json(200, R"({"sandbox_id":"sb_1","stdout":"4\n","stderr":"warn\n",
        "exit_code":3,"execution_time":0.031,"timed_out":false})");
  });
  Captured c;
  CHECK(run(c, server.path(), {"sandbox", "run", "sb_1", "-c", "print(2+2)"}) == 3);
  CHECK(c.out == "4\n");
  CHECK(c.err == "warn\n");
  CHECK(last_body(server) ==
        Json{{"language", "python"}, {"code", "print(2+2)"}});

  Captured j;
  CHECK(run(j, server.path(), {"sandbox", "run", "sb_1", "-c", "x", "--json"}) == 3);
  Json result = Json::parse(j.out);
  CHECK(result == Json{{"sandbox_id", "sb_1"}, {"stdout", "4\n"}, {"stderr", "warn\n"},
                       {"exit_code", 3}, {"execution_time", 0.031}, {"timed_out", false}});

  Captured t;
  CHECK(run(t, server.path(), {"sandbox", "run", "sb_1", "-c", "slow", "--timeout", "2"}) ==
        exit_timeout);
  CHECK(t.out == "partial");
  CHECK(t.err == "Code execution exceeded 2 second timeout\n");

  Captured s;  // -c - reads stdin
  CHECK(run(s, server.path(), {"sandbox", "run", "sb_1", "-c", "-"}) == 3);
  CHECK(last_body(server)["code"] == "print(1)");
}

TEST_CASE("exec: streamed output, exit statuses", "[cli][client]") {
  FakeNexusd server(temp_socket(), [](const SeenRequest& req) -> Reply {
    Json body = Json::parse(req.body);
    std::string what = body["cmd"].back().get<std::string>();
    if (what == "killed")
      return FakeNexusd::chunked(200, {event({{"type", "start"}, {"pid", 7}}),
                                       event({{"type", "exit"}, {"exit_code", -1},
                                              {"status", "signal: killed"}})});
    if (what == "slow")
      return FakeNexusd::chunked(
          200, {event({{"type", "start"}, {"pid", 7}}),
                event({{"type", "error"}, {"code", "deadline_exceeded"},
                       {"message", "command exceeded 1 second timeout"}})});
    if (what == "broken")
      return FakeNexusd::chunked(200, {event({{"type", "error"}, {"code", "unavailable"},
                                              {"message", "the sandbox agent does not answer"}})});
    if (what == "missing") return FakeNexusd::json(404, not_found("sb_nope"));
    // Events split across chunks at odd places.
    std::string all = event({{"type", "start"}, {"pid", 42}}) +
                      event({{"type", "stdout"}, {"data", base64_encode("hi\n")}}) +
                      event({{"type", "stderr"}, {"data", base64_encode("oops\n")}}) +
                      event({{"type", "stdout"}, {"data", base64_encode("bye\n")}}) +
                      event({{"type", "exit"}, {"exit_code", 3}, {"status", "exit status 3"}});
    std::vector<std::string> pieces;
    for (size_t i = 0; i < all.size(); i += 17) pieces.push_back(all.substr(i, 17));
    return FakeNexusd::chunked(200, pieces);
  });

  Captured c;
  CHECK(run(c, server.path(), {"sandbox", "exec", "sb_1", "--", "sh", "-c", "ok"}) == 3);
  CHECK(c.out == "hi\nbye\n");
  CHECK(c.err == "oops\n");
  CHECK(last_body(server) == Json{{"cmd", {"sh", "-c", "ok"}}});

  Captured k;
  CHECK(run(k, server.path(), {"sandbox", "exec", "sb_1", "--", "killed"}) == 137);
  Captured t;
  CHECK(run(t, server.path(), {"sandbox", "exec", "sb_1", "--", "slow"}) == exit_timeout);
  CHECK(t.err == "nexus: command exceeded 1 second timeout\n");
  Captured b;
  CHECK(run(b, server.path(), {"sandbox", "exec", "sb_1", "--", "broken"}) == exit_nexus_error);
  CHECK(b.err == "nexus: the sandbox agent does not answer\n");
  Captured m;
  CHECK(run(m, server.path(), {"sandbox", "exec", "sb_nope", "--", "missing"}) ==
        exit_nexus_error);
  CHECK(m.err == "nexus: sandbox 'sb_nope' not found\n");
}

TEST_CASE("templates: list and build", "[cli][client]") {
  Json tpl = {{"name", "ai-agent-default"}, {"description", "d"}, {"status", "ready"},
              {"built_at", "2026-11-22T01:05:00.000Z"}, {"size_bytes", 372000000}};
  FakeNexusd server(temp_socket(), [tpl](const SeenRequest& req) -> Reply {
    if (req.method == "GET" && req.target == "/v1/templates") return FakeNexusd::json(200, Json{{"templates", {tpl}}}.dump());
    if (req.method == "POST" && req.target == "/v1/templates/ai-agent-default/build")
      return FakeNexusd::json(202, R"({"build_id": "bld_good", "template": "ai-agent-default"})");
    if (req.method == "POST" && req.target == "/v1/templates/bad/build")
      return FakeNexusd::json(202, R"({"build_id": "bld_bad", "template": "bad"})");
    if (req.method == "POST") return FakeNexusd::json(404, R"({"error": {"code": "not_found", "message": "template 'x' is not a seeded template"}})");
    Json steps = Json::array({Json{{"index", 1}, {"text", "FROM debian:bookworm with 2 packages: bash curl"}},
                              Json{{"index", 2}, {"text", "install the template"}}});
    if (req.target == "/v1/builds/bld_bad/events")
      return FakeNexusd::chunked(200, {event({{"type", "build"}, {"build_id", "bld_bad"}, {"template", "bad"}, {"steps", steps}}),
                                       event({{"type", "step"}, {"index", 1}, {"state", "running"}}),
                                       event({{"type", "log"}, {"step", 1}, {"line", "mmdebstrap: E: no mirror"}}),
                                       event({{"type", "step"}, {"index", 1}, {"state", "failed"}, {"elapsed_ms", 20}}),
                                       event({{"type", "error"}, {"code", "failed"}, {"message", "step 1/2 (the Debian base): mmdebstrap failed"}})});
    if (req.target == "/v1/builds/bld_good/events")
      return FakeNexusd::chunked(200, {event({{"type", "build"}, {"build_id", "bld_good"}, {"template", "ai-agent-default"}, {"steps", steps}}),
                                       event({{"type", "step"}, {"index", 1}, {"state", "running"}}),
                                       event({{"type", "log"}, {"step", 1}, {"line", "using the cached base"}}),
                                       event({{"type", "step"}, {"index", 1}, {"state", "done"}, {"elapsed_ms", 5}}),
                                       event({{"type", "step"}, {"index", 2}, {"state", "running"}}),
                                       event({{"type", "step"}, {"index", 2}, {"state", "done"}, {"elapsed_ms", 7}}),
                                       event({{"type", "done"}, {"template", tpl}})});
    if (req.target == "/v1/builds/bld_good") return FakeNexusd::json(200, R"({"build_id": "bld_good", "state": "done"})");
    return FakeNexusd::json(404, R"({"error": {"code": "not_found", "message": "no"}})");
  });
  Captured l;
  CHECK(run(l, server.path(), {"template", "list"}) == 0);
  CHECK(l.out ==
        "NAME               STATUS     SIZE   BUILT\n"
        "ai-agent-default   ready    372 MB   1h ago\n");

  // A seeded template's build is a job like a Nexusfile's: started, then its events followed.
  Captured b;
  CHECK(run(b, server.path(), {"template", "build", "ai-agent-default"}) == 0);
  CHECK_THAT(b.out, Catch::Contains("[1/2] running FROM debian:bookworm with 2 packages: bash curl\n"));
  CHECK_THAT(b.out, Catch::Contains("    using the cached base\n"));
  CHECK_THAT(b.out, Catch::Contains("[2/2] done install the template"));
  CHECK_THAT(b.out, Catch::Contains("Built template ai-agent-default in "));

  Captured j;
  CHECK(run(j, server.path(), {"template", "build", "ai-agent-default", "--json"}) == 0);
  auto lines = split(j.out, '\n');
  REQUIRE(lines.size() >= 7);
  CHECK(Json::parse(lines[0])["type"] == "build");
  CHECK(Json::parse(lines[6])["type"] == "done");

  Captured d;
  CHECK(run(d, server.path(), {"template", "build", "ai-agent-default", "--detach"}) == 0);
  CHECK(d.out == "bld_good\n");

  Captured q;
  CHECK(run(q, server.path(), {"template", "build", "ai-agent-default", "--quiet"}) == 0);
  CHECK(q.out.empty());

  Captured e;
  CHECK(run(e, server.path(), {"template", "build", "bad"}) == exit_failed);
  CHECK_THAT(e.out, Catch::Contains("    mmdebstrap: E: no mirror\n"));
  CHECK_THAT(e.err, Catch::Contains("mmdebstrap failed"));

  Captured n;
  CHECK(run(n, server.path(), {"template", "build", "nope"}) != 0);
  CHECK_THAT(n.err, Catch::Contains("not a seeded template"));
}

TEST_CASE("version: client and daemon", "[cli][client]") {
  FakeNexusd server(temp_socket(), [](const SeenRequest&) -> Reply {
    return FakeNexusd::json(200, R"({"version": "0.1.0", "api": 1})");
  });
  Captured c;
  CHECK(run(c, server.path(), {"version"}) == 0);
  CHECK_THAT(c.out, Catch::Contains("Client: nexus "));
  CHECK_THAT(c.out, Catch::Contains("Daemon: nexusd 0.1.0 (API 1)"));
  Captured j;
  CHECK(run(j, server.path(), {"version", "--json"}) == 0);
  CHECK(Json::parse(j.out)["daemon"]["api"] == 1);
}
