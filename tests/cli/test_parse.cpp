// SPDX-License-Identifier: Apache-2.0
// Tests for the command line: each form parses into the expected API request.
#include <catch.hpp>

#include "cli/exit_codes.hpp"
#include "cli/request.hpp"
#include "nexus_config.h"

using namespace nexus;
using namespace nexus::cli;

namespace {

CommandEnv test_env() {
  CommandEnv env;
  env.read_stdin = []() -> Result<std::string> { return std::string("print('from stdin')"); };
  env.read_file = [](const std::string& path) -> Result<std::string> {
    if (path == "missing.py") return fail(Errc::not_found, "cannot read 'missing.py'");
    return "code of " + path;
  };
  return env;
}

CommandLine parse(std::vector<std::string> args, const CommandEnv& env = test_env()) {
  return parse_command_line(args, env);
}

Command parse_ok(std::vector<std::string> args) {
  CommandLine line = parse(std::move(args));
  INFO("stderr: " << line.err);
  REQUIRE(line.command.has_value());
  return *line.command;
}

}  // namespace

TEST_CASE("sandbox create maps flags to the create body", "[cli][parse]") {
  Command c = parse_ok({"sandbox", "create", "demo", "--ttl", "30", "--template", "tpl",
                        "--cpus", "2", "--memory", "1024", "--env", "A=1", "--env", "B=x=y",
                        "--json"});
  CHECK(c.id == CommandId::sandbox_create);
  CHECK(c.request.method == "POST");
  CHECK(c.request.target == "/v1/sandboxes");
  REQUIRE(c.request.body);
  CHECK(*c.request.body == Json{{"name", "demo"},
                                {"template", "tpl"},
                                {"ttl_seconds", 1800},
                                {"cpus", 2},
                                {"memory_mib", 1024},
                                {"env", {{"A", "1"}, {"B", "x=y"}}}});
  CHECK(c.json);

  Command bare = parse_ok({"sandbox", "create"});
  CHECK(*bare.request.body == Json::object());
  CHECK_FALSE(bare.json);
}

TEST_CASE("sandbox run: code from -c, stdin or a file", "[cli][parse]") {
  Command c = parse_ok({"sandbox", "run", "sb_1", "-c", "print(2+2)"});
  CHECK(c.request.method == "POST");
  CHECK(c.request.target == "/v1/sandboxes/sb_1/run");
  CHECK(*c.request.body == Json{{"language", "python"}, {"code", "print(2+2)"}});

  Command in = parse_ok({"sandbox", "run", "sb_1", "-c", "-", "--timeout", "5", "--json"});
  CHECK(*in.request.body ==
        Json{{"language", "python"}, {"code", "print('from stdin')"}, {"timeout_seconds", 5}});
  CHECK(in.timeout_seconds == 5);
  CHECK(in.json);

  Command js = parse_ok({"sandbox", "run", "sb_1", "-f", "app.js"});
  CHECK((*js.request.body)["language"] == "javascript");
  CHECK((*js.request.body)["code"] == "code of app.js");

  Command sh = parse_ok({"sandbox", "run", "sb_1", "-l", "bash", "--code", "echo hi"});
  CHECK((*sh.request.body)["language"] == "bash");
}

TEST_CASE("sandbox run: usage errors exit 2", "[cli][parse]") {
  CommandLine bad_lang = parse({"sandbox", "run", "sb_1", "-l", "ruby", "-c", "x"});
  CHECK_FALSE(bad_lang.command);
  CHECK(bad_lang.exit_code == exit_usage);
  CHECK_THAT(bad_lang.err, Catch::Contains("unknown language 'ruby'"));
  CHECK_THAT(bad_lang.err, Catch::Contains("python, javascript, bash"));

  CommandLine both = parse({"sandbox", "run", "sb_1", "-c", "x", "-f", "y.py"});
  CHECK_FALSE(both.command);
  CHECK(both.exit_code == exit_usage);
  CHECK_THAT(both.err, Catch::Contains("excludes"));

  CommandLine neither = parse({"sandbox", "run", "sb_1"});
  CHECK(neither.exit_code == exit_usage);
  CHECK_THAT(neither.err, Catch::Contains("-c CODE"));

  CommandLine missing_file = parse({"sandbox", "run", "sb_1", "-f", "missing.py"});
  CHECK(missing_file.exit_code == exit_usage);
  CHECK_THAT(missing_file.err, Catch::Contains("missing.py"));

  CommandLine no_id = parse({"sandbox", "run", "-c", "x"});
  CHECK(no_id.exit_code == exit_usage);

  CommandLine bad_timeout = parse({"sandbox", "run", "sb_1", "-c", "x", "--timeout", "0"});
  CHECK(bad_timeout.exit_code == exit_usage);
  CommandLine text_timeout = parse({"sandbox", "run", "sb_1", "-c", "x", "--timeout", "5s"});
  CHECK(text_timeout.exit_code == exit_usage);
}

TEST_CASE("sandbox exec: the command after --", "[cli][parse]") {
  Command c = parse_ok({"sandbox", "exec", "sb_1", "--env", "A=B", "--cwd", "/tmp", "--user",
                        "root", "--timeout", "3", "--", "ls", "-la", "/"});
  CHECK(c.id == CommandId::sandbox_exec);
  CHECK(c.request.target == "/v1/sandboxes/sb_1/exec");
  CHECK(*c.request.body == Json{{"cmd", {"ls", "-la", "/"}},
                                {"env", {{"A", "B"}}},
                                {"cwd", "/tmp"},
                                {"user", "root"},
                                {"timeout_seconds", 3}});

  Command simple = parse_ok({"sandbox", "exec", "sb_1", "--", "sh", "-c", "echo hi; exit 3"});
  CHECK(*simple.request.body == Json{{"cmd", {"sh", "-c", "echo hi; exit 3"}}});

  CommandLine bad_env = parse({"sandbox", "exec", "sb_1", "--env", "NOEQUALS", "--", "ls"});
  CHECK_FALSE(bad_env.command);
  CHECK(bad_env.exit_code == exit_usage);
  CHECK_THAT(bad_env.err, Catch::Contains("KEY=VALUE"));

  CommandLine no_cmd = parse({"sandbox", "exec", "sb_1"});
  CHECK(no_cmd.exit_code == exit_usage);
}

TEST_CASE("--env without = is a usage error for create too", "[cli][parse]") {
  CommandLine line = parse({"sandbox", "create", "--env", "A"});
  CHECK(line.exit_code == exit_usage);
  CommandLine empty_key = parse({"sandbox", "create", "--env", "=v"});
  CHECK(empty_key.exit_code == exit_usage);
}

TEST_CASE("state changes, list, status", "[cli][parse]") {
  Command pause = parse_ok({"sandbox", "pause", "sb_1"});
  CHECK(pause.request.method == "POST");
  CHECK(pause.request.target == "/v1/sandboxes/sb_1/pause");
  CHECK(*pause.request.body == Json::object());
  Command resume = parse_ok({"sandbox", "resume", "sb_1", "--json"});
  CHECK(resume.request.target == "/v1/sandboxes/sb_1/resume");
  CHECK(resume.json);
  Command stop = parse_ok({"sandbox", "stop", "sb_1"});
  CHECK(stop.request.method == "DELETE");
  CHECK(stop.request.target == "/v1/sandboxes/sb_1");
  CHECK_FALSE(stop.request.body);

  Command list = parse_ok({"sandbox", "list"});
  CHECK(list.request.method == "GET");
  CHECK(list.request.target == "/v1/sandboxes");
  Command all = parse_ok({"sandbox", "list", "--all", "--json"});
  CHECK(all.request.target == "/v1/sandboxes?all=1");
  CHECK(all.json);

  Command status = parse_ok({"sandbox", "status", "sb_1"});
  CHECK(status.request.method == "GET");
  CHECK(status.request.target == "/v1/sandboxes/sb_1");

  Command odd = parse_ok({"sandbox", "status", "a/b c"});
  CHECK(odd.request.target == "/v1/sandboxes/a%2Fb%20c");
}

TEST_CASE("template and version commands", "[cli][parse]") {
  Command list = parse_ok({"template", "list", "--json"});
  CHECK(list.request.method == "GET");
  CHECK(list.request.target == "/v1/templates");
  Command build = parse_ok({"template", "build", "ai-agent-default"});
  CHECK(build.request.method == "POST");
  CHECK(build.request.target == "/v1/templates/ai-agent-default/build");
  CHECK(build.subject == "ai-agent-default");
  Command version = parse_ok({"version"});
  CHECK(version.request.target == "/v1/version");
}

TEST_CASE("the socket: --socket, then $NEXUS_SOCKET, then the default", "[cli][parse]") {
  CHECK(parse_ok({"sandbox", "list"}).socket == "/run/nexus/nexus.sock");
  CommandEnv env = test_env();
  env.socket_env = "/tmp/env.sock";
  CHECK(parse({"sandbox", "list"}, env).command->socket == "/tmp/env.sock");
  CHECK(parse({"--socket", "/tmp/a.sock", "sandbox", "list"}, env).command->socket ==
        "/tmp/a.sock");
  CHECK(parse({"sandbox", "list", "--socket", "/tmp/b.sock"}, env).command->socket ==
        "/tmp/b.sock");
}

TEST_CASE("help, version and bad command lines", "[cli][parse]") {
  CommandLine help = parse({"--help"});
  CHECK(help.exit_code == exit_ok);
  CHECK_THAT(help.out, Catch::Contains("sandbox"));
  CHECK_THAT(help.out, Catch::Contains("Exit status"));
  CHECK_THAT(help.out, Catch::Contains("125"));

  CommandLine sub_help = parse({"sandbox", "run", "--help"});
  CHECK(sub_help.exit_code == exit_ok);
  CHECK_THAT(sub_help.out, Catch::Contains("--language"));

  CommandLine version = parse({"--version"});
  CHECK(version.exit_code == exit_ok);
  CHECK(version.out == "nexus " + std::string(NEXUS_VERSION) + "\n");

  CHECK(parse({}).exit_code == exit_usage);
  CHECK(parse({"frobnicate"}).exit_code == exit_usage);
  CHECK(parse({"sandbox"}).exit_code == exit_usage);
  CommandLine extra = parse({"sandbox", "list", "--bogus"});
  CHECK(extra.exit_code == exit_usage);
  CHECK_THAT(extra.err, Catch::StartsWith("nexus: "));
  CHECK_THAT(extra.err, Catch::Contains("nexus sandbox list --help"));
}
