// SPDX-License-Identifier: Apache-2.0
// Tests for the Nexusfile parser: grammar, substitution, errors with line numbers, bounds and
// robustness against random input.
#include <catch.hpp>

#include <random>
#include <string>

#include "rootfs/nexusfile.hpp"

using namespace nexus;
using namespace nexus::rootfs;
using namespace std::literals;

namespace {

Nexusfile parse_ok(std::string_view text) {
  auto r = parse_nexusfile(text);
  if (!r) FAIL("unexpected error: " << r.error().message());
  return *r;
}

std::string parse_err(std::string_view text, const NexusfileLimits& limits = {}) {
  auto r = parse_nexusfile(text, limits);
  REQUIRE_FALSE(r);
  return r.error().message();
}

}  // namespace

TEST_CASE("a complete Nexusfile", "[nexusfile]") {
  auto f = parse_ok(
      "# syntax=docker/dockerfile:1\n"
      "# a data-science template\n"
      "FROM debian:bookworm\n"
      "\n"
      "ENV PIP_NO_CACHE_DIR=1 HOME=/home/app\n"
      "RUN apt-get update && \\\n"
      "    apt-get install -y python3-pip\n"
      "run [\"pip\", \"install\", \"numpy\"]\n"
      "WORKDIR /app\n"
      "COPY --chown=app:app requirements.txt src/ ./\n"
      "USER app\n"
      "CMD [\"python3\", \"-m\", \"http.server\"]\n");
  CHECK(f.syntax == "docker/dockerfile:1");
  CHECK(f.base.kind == NexusfileBase::Kind::debian);
  CHECK(f.base.suite == "bookworm");
  CHECK(f.base.line == 3);
  REQUIRE(f.steps.size() == 7);
  CHECK(f.steps[0].kind == StepKind::env);
  CHECK(f.steps[0].line == 5);
  CHECK(f.steps[1].kind == StepKind::run);
  CHECK(f.steps[1].line == 6);
  CHECK(f.steps[1].command == Command::shell("apt-get update &&     apt-get install -y python3-pip"));
  CHECK(f.steps[2].command == Command::exec({"pip", "install", "numpy"}));
  CHECK(f.steps[3].path == "/app");
  CHECK(f.steps[4].sources == std::vector<std::string>{"requirements.txt", "src"});
  CHECK(f.steps[4].dest == "/app/");
  CHECK(f.steps[4].chown == "app:app");
  CHECK(f.steps[5].user == "app");
  CHECK(f.steps[6].kind == StepKind::cmd);
  CHECK(describe_step(f, 1) == "step 2/7: RUN apt-get update &&     apt-get install -y python3-pip");
  CHECK(describe_step(f, 2) == "step 3/7: RUN [\"pip\", \"install\", \"numpy\"]");
  CHECK(describe_step(f, 7).empty());

  CHECK(f.defaults.base == "debian:bookworm");
  CHECK(f.defaults.env == std::map<std::string, std::string>{{"PIP_NO_CACHE_DIR", "1"}, {"HOME", "/home/app"}});
  CHECK(f.defaults.workdir == "/app");
  CHECK(f.defaults.user == "app");
  CHECK(f.defaults.start_command == Command::exec({"python3", "-m", "http.server"}));
  CHECK_FALSE(f.defaults.cpus);
  CHECK_FALSE(f.defaults.restart);
  CHECK(validate(f.defaults));
  CHECK(f.warnings.empty());
}

TEST_CASE("FROM: Debian bootstrap versus image reference", "[nexusfile]") {
  for (auto suite : kKnownDebianSuites) {
    auto f = parse_ok("FROM debian:" + std::string(suite));
    CHECK(f.base.kind == NexusfileBase::Kind::debian);
    CHECK(f.base.suite == suite);
  }
  for (const char* image : {"docker.io/library/debian:bookworm", "python:3.12-slim", "ghcr.io/org/app@sha256:abc",
                            "localhost:5000/x/y:1", "debian@sha256:0123", "ubuntu"}) {
    INFO(image);
    auto f = parse_ok(std::string("from ") + image + "\n");
    CHECK(f.base.kind == NexusfileBase::Kind::image);
    CHECK(f.base.image == image);
    CHECK(f.defaults.base == image);
  }
  CHECK(parse_err("FROM debian:buster") ==
        "line 1: unknown Debian suite 'buster' (known: bullseye, bookworm, trixie, forky, sid); for the Docker "
        "Hub image write docker.io/library/debian:buster");
  CHECK(parse_err("\n\nFROM debian:12").find("line 3: unknown Debian suite '12'") == 0);
  CHECK(parse_err("FROM debian").find("line 1: FROM debian needs a suite") == 0);
  CHECK(parse_err("FROM scratch") == "line 1: FROM scratch is not supported: RUN needs a shell and a base system");
  CHECK(parse_err("FROM debian:bookworm AS build") ==
        "line 1: FROM ... AS build: multi-stage builds are not supported");
  CHECK(parse_err("FROM debian:bookworm\nRUN true\nFROM python") ==
        "line 3: only one FROM is allowed (the first is on line 1): multi-stage builds are not supported");
  CHECK(parse_err("FROM --platform=linux/arm64 python") ==
        "line 1: FROM --platform is not supported (the host's platform is used)");
  CHECK(parse_err("FROM $BASE") == "line 1: variables are not supported in FROM (there are no build arguments)");
  CHECK(parse_err("FROM a b") == "line 1: FROM takes one image reference or debian:<suite>");
  CHECK(parse_err("FROM") == "line 1: FROM takes one image reference or debian:<suite>");
  CHECK(parse_err("FROM -bad") == "line 1: invalid image reference '-bad'");
  CHECK(parse_err("FROM a//b") == "line 1: invalid image reference 'a//b'");
  CHECK(parse_err("FROM a:") == "line 1: invalid image reference 'a:'");
  CHECK(parse_err("ARG V=1\nFROM debian:bookworm") ==
        "line 1: ARG is not supported: there are no build arguments (use ENV after FROM)");
  CHECK(parse_err("# c\nRUN true\nFROM debian:bookworm") == "line 2: the Nexusfile must start with FROM (found RUN)");
  CHECK(parse_err("") == "the Nexusfile has no FROM instruction");
  CHECK(parse_err("# only a comment\n\n") == "the Nexusfile has no FROM instruction");
}

TEST_CASE("unsupported and ignored instructions name the line", "[nexusfile]") {
  const std::string head = "FROM debian:bookworm\n";
  CHECK(parse_err(head + "ADD x /x") == "line 2: ADD is not supported (use COPY)");
  CHECK(parse_err(head + "RUN a\nentrypoint [\"x\"]") ==
        "line 3: ENTRYPOINT is not supported (use CMD: it is the template's start command)");
  for (const char* kw : {"ARG", "VOLUME", "HEALTHCHECK", "ONBUILD", "SHELL", "STOPSIGNAL", "MAINTAINER"}) {
    INFO(kw);
    CHECK(parse_err(head + kw + " x").find(std::string("line 2: ") + kw + " is not supported (") == 0);
  }
  CHECK(parse_err(head + "FOO bar") == "line 2: unknown instruction 'FOO'");
  auto f = parse_ok(head + "EXPOSE 8080\nLABEL a=b\nRUN true");
  REQUIRE(f.warnings.size() == 2);
  CHECK(f.warnings[0] == "line 2: EXPOSE is ignored (a sandbox's ports are reached through the E2B endpoint)");
  CHECK(f.warnings[1] == "line 3: LABEL is ignored (templates carry no labels)");
  CHECK(f.steps.size() == 1);
}

TEST_CASE("RUN and CMD: exec and shell forms", "[nexusfile]") {
  const std::string head = "FROM debian:bookworm\n";
  auto f = parse_ok(head + "RUN [ -f /etc/os-release ] && echo $HOME\nCMD python3 app.py --port ${PORT}\n");
  CHECK(f.steps[0].command == Command::shell("[ -f /etc/os-release ] && echo $HOME"));  // not JSON: shell
  CHECK(f.steps[1].command == Command::shell("python3 app.py --port ${PORT}"));        // no substitution
  CHECK(f.defaults.start_command == Command::shell("python3 app.py --port ${PORT}"));
  CHECK(f.defaults.start_command->to_argv() ==
        std::vector<std::string>{"/bin/sh", "-c", "python3 app.py --port ${PORT}"});

  CHECK(parse_err(head + "RUN") == "line 2: RUN needs a command");
  CHECK(parse_err(head + "RUN []") == "line 2: RUN needs a command (the exec form is empty)");
  CHECK(parse_err(head + "CMD [\"a\", 'b']") ==
        "line 2: CMD: the exec form is not a valid JSON array of strings (use double quotes: [\"executable\", "
        "\"arg\"])");
  CHECK(parse_err(head + "RUN [\"a\", 1]").find("line 2: RUN: the exec form is not a valid JSON") == 0);
  CHECK(parse_err(head + "RUN --mount=type=cache,target=/root/.cache pip install x") ==
        "line 2: RUN --mount is not supported");
  CHECK(parse_err(head + "RUN cat <<EOF > /x\nhello\nEOF") ==
        "line 2: heredocs (<<EOF) are not supported in RUN; COPY a script and run it");
  CHECK(parse_err(head + "RUN <<-'EOT' bash").find("line 2: heredocs") == 0);
  CHECK(parse_ok(head + "RUN echo $((1<<4))").steps[0].command.script == "echo $((1<<4))");

  auto two = parse_ok(head + "CMD a\nCMD [\"b\"]\n");
  CHECK(two.defaults.start_command == Command::exec({"b"}));
  REQUIRE(two.warnings.size() == 1);
  CHECK(two.warnings[0] == "line 3: CMD replaces the CMD of line 2");
  CHECK_FALSE(parse_ok(head + "CMD a\nCMD []\n").defaults.start_command);
}

TEST_CASE("ENV forms, quoting and substitution", "[nexusfile]") {
  const std::string head = "FROM debian:bookworm\n";
  auto f = parse_ok(head +
                    "ENV A=1 B=\"two words\" C=three\\ words D='$A lit'\n"
                    "ENV LEGACY   a value with  spaces \n"
                    "ENV E=$A F=${B} G=${NOPE:-dflt} H=${A:+alt} I=${NOPE:+alt} J=\"$A-\\$A\" K=${EMPTY-x}\n"
                    "ENV A=2 L=$A\n");
  std::map<std::string, std::string> want{
      {"A", "2"},         {"B", "two words"},        {"C", "three words"}, {"D", "$A lit"},
      {"LEGACY", "a value with  spaces"}, {"E", "1"}, {"F", "two words"},  {"G", "dflt"},
      {"H", "alt"},       {"I", ""},                 {"J", "1-$A"},        {"K", "x"},
      {"L", "1"},  // Docker: values substitute from before the instruction
  };
  CHECK(f.defaults.env == want);
  REQUIRE(f.steps.size() == 4);
  CHECK(f.steps[1].env == std::vector<std::pair<std::string, std::string>>{{"LEGACY", "a value with  spaces"}});

  auto g = parse_ok(head + "ENV EMPTY=\nENV X=${EMPTY:-d} Y=${EMPTY-d}\n");
  CHECK(g.defaults.env.at("X") == "d");
  CHECK(g.defaults.env.at("Y") == "");

  CHECK(parse_err(head + "ENV") == "line 2: ENV needs KEY=VALUE");
  CHECK(parse_err(head + "ENV FOO") == "line 2: ENV FOO needs a value (ENV FOO=value)");
  CHECK(parse_err(head + "ENV A=1 B") == "line 2: ENV: expected KEY=VALUE, got 'B'");
  CHECK(parse_err(head + "ENV 1A=x") == "line 2: ENV: invalid variable name '1A' ([A-Za-z_][A-Za-z0-9_]*)");
  CHECK(parse_err(head + "ENV A=\"open") == "line 2: ENV: unterminated double quote");
  CHECK(parse_err(head + "ENV A='open") == "line 2: ENV: unterminated single quote");
  CHECK(parse_err(head + "ENV A=${B") == "line 2: ENV: missing '}' in ${...}");
  CHECK(parse_err(head + "ENV A=${B:?err}").find("line 2: ENV: unsupported substitution '${B:?err}'") == 0);
  CHECK(parse_err(head + "ENV A=${1}").find("line 2: ENV: bad variable reference") == 0);
  CHECK(parse_ok(head + "ENV A=$ B=a$").defaults.env.at("B") == "a$");  // a lone $ is literal
}

TEST_CASE("WORKDIR and USER", "[nexusfile]") {
  const std::string head = "FROM debian:bookworm\n";
  auto f = parse_ok(head + "WORKDIR a\nWORKDIR b/../c/\nENV D=/srv\nWORKDIR $D/x\nWORKDIR ..\nWORKDIR ./y//z");
  CHECK(f.steps[0].path == "/a");
  CHECK(f.steps[1].path == "/a/c");
  CHECK(f.steps[3].path == "/srv/x");
  CHECK(f.steps[4].path == "/srv");
  CHECK(f.steps[5].path == "/srv/y/z");
  CHECK(f.defaults.workdir == "/srv/y/z");
  CHECK(parse_ok(head + "WORKDIR /../../x").defaults.workdir == "/x");
  CHECK_FALSE(parse_ok(head + "RUN true").defaults.workdir);
  CHECK(parse_err(head + "WORKDIR") == "line 2: WORKDIR needs a path");

  auto u = parse_ok(head + "ENV U=app\nUSER ${U}:1000\nUSER 0");
  CHECK(u.steps[1].user == "app:1000");
  CHECK(u.defaults.user == "0");
  CHECK(parse_err(head + "USER") == "line 2: USER needs a user name or uid");
  CHECK(parse_err(head + "USER 70000") == "line 2: USER: user id '70000' must be a number in 0..65535");
  CHECK(parse_err(head + "USER a b").find("line 2: USER: invalid user name 'a b'") == 0);
  CHECK(parse_err(head + "USER app:") == "line 2: USER: empty group");
}

TEST_CASE("COPY: sources, destination, flags", "[nexusfile]") {
  const std::string head = "FROM debian:bookworm\nWORKDIR /app\n";
  auto f = parse_ok(head +
                    "COPY a.txt /etc/a.txt\n"
                    "COPY ./dir/../b c\n"
                    "COPY *.py lib/ .\n"
                    "COPY [\"with space\", \"/opt/x y/\"]\n"
                    "ENV SRC=src DST=/dst\n"
                    "COPY $SRC ${DST}/\n"
                    "COPY . /\n");
  CHECK(f.steps[1].sources == std::vector<std::string>{"a.txt"});
  CHECK(f.steps[1].dest == "/etc/a.txt");
  CHECK(f.steps[2].sources == std::vector<std::string>{"b"});
  CHECK(f.steps[2].dest == "/app/c");
  CHECK(f.steps[3].sources == std::vector<std::string>{"*.py", "lib"});
  CHECK(f.steps[3].dest == "/app/");
  CHECK(f.steps[4].sources == std::vector<std::string>{"with space"});
  CHECK(f.steps[4].dest == "/opt/x y/");
  CHECK(f.steps[6].sources == std::vector<std::string>{"src"});
  CHECK(f.steps[6].dest == "/dst/");
  CHECK(f.steps[7].sources == std::vector<std::string>{"."});
  CHECK(f.steps[7].dest == "/");

  CHECK(parse_err(head + "COPY /etc/passwd x") == "line 3: COPY source '/etc/passwd' must be relative to the build context");
  CHECK(parse_err(head + "COPY a/../../x y") == "line 3: COPY source 'a/../../x' leaves the build context");
  CHECK(parse_err(head + "COPY .. y") == "line 3: COPY source '..' leaves the build context");
  CHECK(parse_err(head + "COPY a") == "line 3: COPY needs at least one source and a destination");
  CHECK(parse_err(head + "COPY a b c") == "line 3: COPY with several sources needs a destination directory ending in '/'");
  CHECK(parse_err(head + "COPY --from=build /x /y") == "line 3: COPY --from is not supported (multi-stage builds are not supported)");
  CHECK(parse_err(head + "COPY --chmod=755 a b") == "line 3: COPY --chmod is not supported (only --chown)");
  CHECK(parse_err(head + "COPY --chown a b") == "line 3: COPY --chown needs a value: --chown=user[:group]");
  CHECK(parse_err(head + "COPY --chown=bad!name a b").find("line 3: COPY --chown: invalid user name 'bad!name'") == 0);
  CHECK(parse_err(head + "COPY <<EOF /x") == "line 3: heredocs (<<EOF) are not supported in COPY");
  CHECK(parse_err(head + "COPY [\"a\", 1]") == "line 3: COPY: the JSON form is not a valid array of strings");
}

TEST_CASE("lexing: case, continuations, comments, directives, CRLF", "[nexusfile]") {
  auto f = parse_ok(
      "\xEF\xBB\xBF# escape=`\r\n"
      "From debian:trixie\r\n"
      "Run echo a `\r\n"
      "# a comment inside the continuation\r\n"
      "\r\n"
      "  && echo b\\c\r\n"
      "   # an indented comment\r\n"
      "WORKDIR C:`\\x\r\n");
  CHECK(f.base.suite == "trixie");
  REQUIRE(f.steps.size() == 2);
  CHECK(f.steps[0].command.script == "echo a   && echo b\\c");
  CHECK(f.steps[0].line == 3);
  CHECK(f.steps[1].line == 8);
  CHECK(f.steps[1].path == "/C:\\x");

  // A directive after the first comment is only a comment.
  auto g = parse_ok("# hello\n# escape=`\nFROM debian:sid\nRUN a \\\n  b");
  CHECK(g.steps[0].command.script == "a   b");
  // A continuation at the end of the file ends the instruction.
  CHECK(parse_ok("FROM debian:sid\nRUN x \\").steps[0].command.script == "x");
  CHECK(parse_err("# escape=x\nFROM debian:sid") == "line 1: invalid escape character 'x' (use \\ or `)");
  CHECK(parse_err("# escape=`\n# escape=\\\nFROM debian:sid") == "line 2: the escape directive is given twice");
  CHECK(parse_err("# syntax=a\n#syntax=b\nFROM debian:sid") == "line 2: the syntax directive is given twice");
  CHECK(parse_ok("# check=skip=all\nFROM debian:sid").steps.empty());
}

TEST_CASE("bounds and hostile bytes", "[nexusfile]") {
  CHECK(parse_err("FROM debian:sid\nRUN a\0b"sv) == "line 2: NUL byte in the file");
  auto r = parse_nexusfile(std::string(1024 * 1024 + 1, '#'));
  REQUIRE_FALSE(r);
  CHECK(r.error().is(Errc::too_large));
  CHECK(r.error().message() == "the Nexusfile is larger than 1048576 bytes");

  CHECK(parse_err("FROM debian:sid\n# x\nRUN " + std::string(70000, 'x')) == "line 3: line longer than 65536 bytes");
  std::string many = "FROM debian:sid\n";
  for (int i = 0; i < 1000; ++i) many += "RUN true\n";
  CHECK(parse_err(many) == "line 1001: more than 1000 instructions");

  // Deep continuations: 100000 lines of "\" make one instruction that runs into the bound.
  std::string deep = "FROM debian:sid\nRUN a";
  for (int i = 0; i < 100000; ++i) deep += " \\\n b";
  auto d = parse_nexusfile(deep);
  REQUIRE_FALSE(d);
  CHECK(d.error().message() == "line 2: instruction longer than 262144 bytes");
  // Within the bound they work and keep the first line's number.
  std::string ok = "FROM debian:sid\nRUN a";
  for (int i = 0; i < 10000; ++i) ok += "\\\n";
  ok += "b\nRUN c";
  auto o = parse_ok(ok);
  CHECK(o.steps[0].command.script == "ab");
  CHECK(o.steps[1].line == 10003);

  // Substitution cannot multiply its way past the bound.
  std::string bomb = "FROM debian:sid\nENV A=" + std::string(60000, 'x') + "\nENV B=";
  for (int i = 0; i < 20; ++i) bomb += "$A";
  auto b = parse_nexusfile(bomb);
  REQUIRE_FALSE(b);
  CHECK(b.error().is(Errc::too_large));
  CHECK(b.error().message() == "line 3: ENV: a word is longer than 1048576 bytes after variable substitution");

  std::string nest = "FROM debian:sid\nENV A=";
  for (int i = 0; i < 40; ++i) nest += "${X:-";
  nest += std::string(40, '}');
  CHECK(parse_err(nest) == "line 2: ENV: ${...} nested too deeply");

  NexusfileLimits tiny;
  tiny.max_instructions = 2;
  CHECK(parse_err("FROM debian:sid\nRUN a\nRUN b", tiny) == "line 3: more than 2 instructions");
}

TEST_CASE("random input never crashes", "[nexusfile][fuzz]") {
  std::mt19937 rng(12345);
  const std::string alphabet = "FROMRUNCOPYENVWORKDIRUSERCMD debian:bookworm \\`\"'$ {}[]:-+=/.#\n\r\t\0x<";
  int parsed = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string text;
    if (iter % 2 == 0) text = "FROM debian:bookworm\n";
    size_t n = rng() % 400;
    for (size_t i = 0; i < n; ++i) {
      if (iter % 3 == 0)
        text += static_cast<char>(rng() & 0xff);
      else
        text += alphabet[rng() % alphabet.size()];
    }
    auto r = parse_nexusfile(text);
    if (r) {
      ++parsed;
      CHECK(r->steps.size() <= 1000);
      for (size_t i = 0; i < r->steps.size(); ++i) CHECK_FALSE(describe_step(*r, i).empty());
    } else {
      CHECK_FALSE(r.error().message().empty());
    }
  }
  CHECK(parsed > 0);
}
