// SPDX-License-Identifier: Apache-2.0
// Injection rules: the --inject syntax, providers, E2B's network.rules, the global policy
// JSON, and that no error message carries a secret.
#include <catch.hpp>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "net/egress/global_policy.hpp"
#include "net/egress/inject.hpp"

using namespace nexus;
using namespace nexus::net::egress;

namespace {
std::string temp_dir() {
  char tmpl[] = "/tmp/nexus-egress-inject-XXXXXX";
  REQUIRE(::mkdtemp(tmpl));
  return tmpl;
}
void write_file(const std::string& path, const std::string& data, mode_t mode = 0600) {
  std::ofstream(path) << data;
  ::chmod(path.c_str(), mode);
}
}  // namespace

TEST_CASE("the --inject syntax", "[inject]") {
  auto r = parse_inject_spec("api.openai.com:Authorization=file:/etc/nexus/secrets/openai");
  REQUIRE(r);
  CHECK(r->host.to_string() == "api.openai.com");
  CHECK(r->header == "Authorization");
  CHECK(r->provider.kind == Provider::Kind::file);
  CHECK(r->provider.path == "/etc/nexus/secrets/openai");
  CHECK(to_spec(*r) == "api.openai.com:Authorization=file:/etc/nexus/secrets/openai");

  auto env = parse_inject_spec("*.example.com:X-Api-Key=env:EXAMPLE_KEY");
  REQUIRE(env);
  CHECK(env->host.wildcard);
  CHECK(env->provider.name == "EXAMPLE_KEY");
  auto cmd = parse_inject_spec("h.test:X-T=command:/usr/bin/printf %s tok");
  REQUIRE(cmd);
  CHECK(cmd->provider.path == "/usr/bin/printf");
  CHECK(cmd->provider.args == std::vector<std::string>{"%s", "tok"});

  auto bad = [](std::string_view s, std::string_view why) {
    auto x = parse_inject_spec(s);
    INFO(s);
    REQUIRE_FALSE(x);
    CHECK_THAT(x.error().message(), Catch::Contains(std::string(why)));
  };
  bad("api.openai.com", "host:Header=provider");
  bad("api.openai.com:Authorization", "host:Header=provider");
  bad("api..com:A=file:/x", "empty label");
  bad("h.com:Bad Header=file:/x", "bad header name");
  bad("h.com:A=file:relative", "absolute");
  bad("h.com:A=env:1X", "environment variable");
  bad("h.com:A=command:prog", "absolute");
  bad("h.com:A=secret:abc", "unknown kind");
  bad("h.com:A=", "provider");
}

TEST_CASE("providers: file, env, command, with newlines stripped and failures clear", "[inject]") {
  const std::string dir = temp_dir();
  write_file(dir + "/key", "file-secret\n");
  write_file(dir + "/two-lines", "a\nb\n");
  write_file(dir + "/empty", "");
  write_file(dir + "/tok.sh", "#!/bin/sh\necho cmd-secret-$1\n", 0700);
  write_file(dir + "/slow.sh", "#!/bin/sh\nsleep 5\n", 0700);
  write_file(dir + "/fail.sh", "#!/bin/sh\necho cmd-secret-leak; exit 3\n", 0700);
  ::setenv("NEXUS_EGRESS_TEST_KEY", "env-secret", 1);
  CredentialCache cache(std::chrono::milliseconds(200), std::chrono::milliseconds(500));
  auto get = [&](const std::string& text) {
    auto p = Provider::parse(text);
    REQUIRE(p);
    return cache.get(*p);
  };
  CHECK(get("file:" + dir + "/key").value() == "file-secret");
  CHECK(get("env:NEXUS_EGRESS_TEST_KEY").value() == "env-secret");
  CHECK(get("command:" + dir + "/tok.sh x").value() == "cmd-secret-x");

  // Cached briefly: a changed file is seen once the entry expires.
  write_file(dir + "/key", "rotated\n");
  CHECK(get("file:" + dir + "/key").value() == "file-secret");
  ::usleep(300 * 1000);
  CHECK(get("file:" + dir + "/key").value() == "rotated");

  for (auto [text, why] : std::vector<std::pair<std::string, std::string>>{
           {"file:" + dir + "/missing", "No such file"},
           {"file:" + dir + "/two-lines", "line break"},
           {"file:" + dir + "/empty", "empty value"},
           {"env:NEXUS_EGRESS_TEST_UNSET", "not set"},
           {"command:" + dir + "/slow.sh", "no answer within 500 ms"},
           {"command:" + dir + "/fail.sh", "exited with status 3"}}) {
    auto v = get(text);
    INFO(text);
    REQUIRE_FALSE(v);
    CHECK(v.error().is(Errc::unavailable));
    CHECK_THAT(v.error().message(), Catch::Contains(std::string(why)));
    CHECK_THAT(v.error().message(), !Catch::Contains("secret"));
  }
  std::system(("rm -rf " + dir).c_str());
}

TEST_CASE("E2B network.rules give literal per-host headers", "[inject]") {
  auto j = parse_json(R"({"api.example.com": [{"transform": {"headers": {"X-Key": "lit-secret", "X-Other": "v"}}}]})");
  REQUIRE(j);
  auto rules = inject_rules_from_e2b(*j);
  REQUIRE(rules);
  REQUIRE(rules->size() == 2);
  CHECK((*rules)[0].provider.kind == Provider::Kind::literal);
  CHECK(to_json((*rules)[0]).dump().find("lit-secret") == std::string::npos);
  CredentialCache cache;
  CHECK(cache.get((*rules)[0].provider).value() == "lit-secret");

  auto crlf = inject_rules_from_e2b(*parse_json(R"({"a.com": [{"transform": {"headers": {"X": "lit-secret\r\nEvil: 1"}}}]})"));
  REQUIRE_FALSE(crlf);
  CHECK_THAT(crlf.error().message(), !Catch::Contains("lit-secret"));
  CHECK_FALSE(inject_rules_from_e2b(*parse_json(R"({"a.com": {"transform": 1}})")));
  CHECK_FALSE(inject_rules_from_e2b(*parse_json(R"({"a.com": [{"transform": {"headers": {"Bad Name": "v"}}}]})")));

  // The sandbox's rule for a header wins over the global one; other headers add up.
  auto global = parse_inject_spec("api.example.com:X-Key=env:G");
  auto other = parse_inject_spec("*.example.com:X-Global=env:G");
  std::vector<InjectRule> g{*global, *other};
  auto m = matching_rules(*rules, g, "api.example.com");
  REQUIRE(m.size() == 3);
  CHECK(m[0]->provider.kind == Provider::Kind::literal);
  CHECK(m[2]->header == "X-Global");
}

TEST_CASE("the global policy JSON round-trips and errors name the field", "[policy]") {
  auto j = parse_json(R"({"allow": ["*.openai.com"], "deny": ["evil.example"],
                          "inject": [{"host": "api.openai.com", "header": "Authorization", "provider": "file:/etc/nexus/secrets/openai"}]})");
  REQUIRE(j);
  auto p = global_policy_from_json(*j);
  REQUIRE(p);
  CHECK(to_json(*p) == *j);
  auto bad = [](const char* text, std::string_view prefix) {
    auto x = global_policy_from_json(*parse_json(text));
    INFO(text);
    REQUIRE_FALSE(x);
    CHECK_THAT(x.error().message(), Catch::StartsWith(std::string(prefix)));
  };
  bad(R"({"allow": ["ok.com", "a..b"]})", "allow[1]:");
  bad(R"({"deny": "x.com"})", "deny: must be an array");
  bad(R"({"deny": [1]})", "deny[0]: must be a string");
  bad(R"({"inject": [{"host": "a.com", "header": "A", "provider": "nope:x"}]})", "inject[0].provider:");
  bad(R"({"inject": [{"host": "a.com", "header": "A"}]})", "inject[0].provider: required");
  bad(R"({"inject": [{"host": "a.com", "header": "A", "provider": "env:X", "extra": 1}]})", "inject[0]: unknown field");
  bad(R"({"alow": []})", "egress policy: unknown field 'alow'");
  auto args = global_policy_from_args({"*.openai.com,pypi.org"}, {"evil.example"},
                                      {"api.openai.com:Authorization=file:/etc/nexus/secrets/openai"});
  REQUIRE(args);
  CHECK(args->domains.allow.to_strings() == std::vector<std::string>{"*.openai.com", "pypi.org"});
  CHECK(args->inject.size() == 1);
}
