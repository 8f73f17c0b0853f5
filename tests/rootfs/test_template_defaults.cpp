// SPDX-License-Identifier: Apache-2.0
// Tests for template defaults: validation bounds, JSON round trips and merge precedence.
#include <catch.hpp>

#include "rootfs/template_defaults.hpp"

using namespace nexus;
using namespace nexus::rootfs;

namespace {

std::string invalid(const TemplateDefaults& d) {
  auto r = validate(d);
  REQUIRE_FALSE(r);
  CHECK(r.error().is(Errc::invalid_argument));
  return r.error().message();
}

TemplateDefaults full() {
  TemplateDefaults d;
  d.base = "debian:bookworm";
  d.cpus = 2;
  d.memory_mib = 1024;
  d.disk_mib = 8192;
  d.ttl_seconds = 3600;
  d.env = {{"A", "1"}, {"B", "two"}};
  d.workdir = "/app";
  d.user = "app:app";
  d.start_command = Command::exec({"python3", "app.py"});
  d.restart = Restart{RestartPolicy::on_failure, 3};
  return d;
}

}  // namespace

TEST_CASE("template defaults: validation", "[template_defaults]") {
  CHECK(validate(TemplateDefaults{}));
  CHECK(validate(full()));

  TemplateDefaults d;
  d.cpus = 0;
  CHECK(invalid(d) == "cpus must be between 1 and 64 (got 0)");
  d.cpus = 65;
  CHECK(invalid(d) == "cpus must be between 1 and 64 (got 65)");
  d.cpus = 64;
  CHECK(validate(d));
  d = {};
  d.memory_mib = 63;
  CHECK(invalid(d) == "memory_mib must be between 64 and 65536 (got 63)");
  d.memory_mib = 65537;
  CHECK(invalid(d) == "memory_mib must be between 64 and 65536 (got 65537)");
  d = {};
  d.disk_mib = 100;
  CHECK(invalid(d) == "disk_mib must be between 256 and 1048576 (got 100)");
  d = {};
  d.ttl_seconds = 604801;
  CHECK(invalid(d) == "ttl_seconds must be between 1 and 604800 (got 604801)");
  d = {};
  d.env = {{"1X", "v"}};
  CHECK(invalid(d) == "invalid environment variable name '1X' ([A-Za-z_][A-Za-z0-9_]*)");
  d.env = {{"X", std::string("a\0b", 3)}};
  CHECK(invalid(d).find("invalid value for environment variable 'X'") == 0);
  d = {};
  d.workdir = "rel";
  CHECK(invalid(d) == "workdir 'rel' must be an absolute path");
  d = {};
  d.user = "a:b:c";
  CHECK(invalid(d).find("user: invalid group name 'b:c'") == 0);
  d.user = "99999";
  CHECK(invalid(d) == "user: user id '99999' must be a number in 0..65535");
  d = {};
  d.start_command = Command::exec({});
  CHECK(invalid(d) == "start_command: the argv is empty");
  d.start_command = Command::shell("  ");
  CHECK(invalid(d) == "start_command: the shell command is empty");
  d = {};
  d.restart = Restart{RestartPolicy::always, 2};
  CHECK(invalid(d) == "max_restarts applies only to the on-failure restart policy");
  d.restart = Restart{RestartPolicy::on_failure, 1001};
  CHECK(invalid(d) == "max_restarts must be between 0 and 1000");
  d = {};
  d.base = "has space";
  CHECK(invalid(d) == "invalid base 'has space'");
}

TEST_CASE("restart policy spelling", "[template_defaults]") {
  CHECK(*parse_restart("never") == Restart{RestartPolicy::never, 0});
  CHECK(*parse_restart("always") == Restart{RestartPolicy::always, 0});
  CHECK(*parse_restart("on-failure") == Restart{RestartPolicy::on_failure, 0});
  CHECK(*parse_restart("on-failure:5") == Restart{RestartPolicy::on_failure, 5});
  CHECK(parse_restart("on-failure:x").error().message() ==
        "invalid restart policy 'on-failure:x': the count must be 0..1000");
  CHECK(parse_restart("sometimes").error().message() ==
        "invalid restart policy 'sometimes' (never, on-failure[:N], always)");
  CHECK(restart_policy_name(RestartPolicy::on_failure) == "on-failure");
}

TEST_CASE("template defaults: JSON", "[template_defaults]") {
  auto d = full();
  Json j = to_json(d);
  CHECK(j["start_command"] == Json::array({"python3", "app.py"}));
  CHECK(j["restart"] == Json{{"policy", "on-failure"}, {"max_restarts", 3}});
  auto back = template_defaults_from_json(j);
  REQUIRE(back);
  CHECK(*back == d);

  d.start_command = Command::shell("exec python3 app.py");
  CHECK(to_json(d)["start_command"] == "exec python3 app.py");
  CHECK(*template_defaults_from_json(to_json(d)) == d);

  CHECK(to_json(TemplateDefaults{}) == Json::object());
  CHECK(*template_defaults_from_json(Json::object()) == TemplateDefaults{});
  CHECK(template_defaults_from_json(Json{{"restart", "on-failure:2"}})->restart == Restart{RestartPolicy::on_failure, 2});

  auto err = [](const Json& in) {
    auto r = template_defaults_from_json(in);
    REQUIRE_FALSE(r);
    return r.error().message();
  };
  CHECK(err(Json::array()) == "template defaults: expected a JSON object");
  CHECK(err(Json{{"cpu", 1}}) == "template defaults: unknown field 'cpu'");
  CHECK(err(Json{{"cpus", "2"}}) == "'cpus' must be an integer");
  CHECK(err(Json{{"cpus", 1.5}}).find("cpus") != std::string::npos);
  CHECK(err(Json{{"workdir", 1}}) == "'workdir' must be a string");
  CHECK(err(Json{{"env", {{"A", 1}}}}) == "env 'A' must be a string");
  CHECK(err(Json{{"env", "A=1"}}) == "'env' must be an object of strings");
  CHECK(err(Json{{"start_command", 5}}) == "'start_command' must be a string (shell form) or an array (exec form)");
  CHECK(err(Json{{"start_command", {"a", 1}}}) == "'start_command' array must hold strings");
  CHECK(err(Json{{"restart", {{"policy", "maybe"}}}}) ==
        "restart: invalid policy 'maybe' (never, on-failure, always)");
  CHECK(err(Json{{"restart", {{"policy", "always"}, {"max", 1}}}}) == "restart: unknown field 'max'");
  CHECK(err(Json{{"restart", {{"policy", "on-failure"}, {"max_restarts", -1}}}}) ==
        "max_restarts must be between 0 and 1000");
}

TEST_CASE("merge: the request wins, then the template, then the fallback", "[template_defaults]") {
  EffectiveDefaults fallback;  // the daemon's defaults
  fallback.base = "debian:bookworm";
  fallback.env = {{"LANG", "C.UTF-8"}, {"A", "fallback"}};

  SECTION("nothing set: the fallback") {
    auto e = merge({}, {}, fallback);
    CHECK(e == fallback);
    auto plain = merge({}, {});
    CHECK(plain.cpus == 1);
    CHECK(plain.memory_mib == 512);
    CHECK(plain.disk_mib == 4096);
    CHECK(plain.ttl_seconds == 600);
    CHECK(plain.workdir == "/");
    CHECK(plain.user == "root");
    CHECK_FALSE(plain.start_command);
    CHECK(plain.restart == Restart{});
  }
  SECTION("template only") {
    auto e = merge(full(), {}, fallback);
    CHECK(e.base == "debian:bookworm");
    CHECK(e.cpus == 2);
    CHECK(e.memory_mib == 1024);
    CHECK(e.disk_mib == 8192);
    CHECK(e.ttl_seconds == 3600);
    CHECK(e.env == std::map<std::string, std::string>{{"LANG", "C.UTF-8"}, {"A", "1"}, {"B", "two"}});
    CHECK(e.workdir == "/app");
    CHECK(e.user == "app:app");
    CHECK(e.start_command == Command::exec({"python3", "app.py"}));
    CHECK(e.restart == Restart{RestartPolicy::on_failure, 3});
  }
  SECTION("each field of the request overrides alone") {
    auto t = full();
    auto check_one = [&](const SandboxOverrides& r, auto&& expect) {
      auto e = merge(t, r, fallback);
      expect(e);
      // every other field still comes from the template
      auto base = merge(t, {}, fallback);
      int differing = (e.base != base.base) + (e.cpus != base.cpus) + (e.memory_mib != base.memory_mib) +
                      (e.disk_mib != base.disk_mib) + (e.ttl_seconds != base.ttl_seconds) + (e.env != base.env) +
                      (e.workdir != base.workdir) + (e.user != base.user) +
                      (e.start_command != base.start_command) + (e.restart != base.restart);
      CHECK(differing == 1);
    };
    SandboxOverrides r;
    r.base = "python:3.12";
    check_one(r, [](auto& e) { CHECK(e.base == "python:3.12"); });
    r = {};
    r.cpus = 8;
    check_one(r, [](auto& e) { CHECK(e.cpus == 8); });
    r = {};
    r.memory_mib = 4096;
    check_one(r, [](auto& e) { CHECK(e.memory_mib == 4096); });
    r = {};
    r.disk_mib = 20000;
    check_one(r, [](auto& e) { CHECK(e.disk_mib == 20000); });
    r = {};
    r.ttl_seconds = 60;
    check_one(r, [](auto& e) { CHECK(e.ttl_seconds == 60); });
    r = {};
    r.env = {{"B", "request"}, {"C", "new"}};
    check_one(r, [](auto& e) {
      CHECK(e.env == std::map<std::string, std::string>{
                         {"LANG", "C.UTF-8"}, {"A", "1"}, {"B", "request"}, {"C", "new"}});
    });
    r = {};
    r.workdir = "/tmp";
    check_one(r, [](auto& e) { CHECK(e.workdir == "/tmp"); });
    r = {};
    r.user = "root";
    check_one(r, [](auto& e) { CHECK(e.user == "root"); });
    r = {};
    r.start_command = Command::shell("bash");
    check_one(r, [](auto& e) { CHECK(e.start_command == Command::shell("bash")); });
    r = {};
    r.restart = Restart{RestartPolicy::always, 0};
    check_one(r, [](auto& e) { CHECK(e.restart == Restart{RestartPolicy::always, 0}); });  // not merged with 3
  }
  SECTION("a request env value of \"\" blanks the template's") {
    SandboxOverrides r;
    r.env = {{"A", ""}};
    CHECK(merge(full(), r, fallback).env.at("A").empty());
  }
}
