// SPDX-License-Identifier: Apache-2.0
// The completion tree against the command table, the scripts generated from it, and
// `nexus __complete` against a fake nexusd (and none). The scripts are run in real shells by
// tests/cli/test_completion_shells.sh and tests/integration/test_completions.sh.
#include <unistd.h>

#include <catch.hpp>
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/completion.hpp"
#include "cli/exit_codes.hpp"
#include "common/strings.hpp"
#include "captured.hpp"
#include "fake_nexusd.hpp"

using namespace nexus;
using namespace nexus::cli;
using nexus::cli::test::Captured;
using nexus::cli::test::FakeNexusd;
using nexus::cli::test::Reply;
using nexus::cli::test::SeenRequest;

namespace {


int run(Captured& c, std::vector<std::string> args, std::optional<std::string> socket_env = {}) {
  CommandEnv env;
  env.socket_env = std::move(socket_env);
  return run_cli(args, c.console, env);
}

std::string temp_socket() { return test::temp_socket("completion-test"); }

std::string path_of(const CommandSpec& c) {
  return c.group.empty() ? std::string(c.name) : std::string(c.group) + " " + std::string(c.name);
}

const CompletionOption* option_named(const CompletionNode& n, std::string_view name) {
  for (const CompletionOption& o : n.options)
    for (const std::string& x : o.names)
      if (x == name) return &o;
  return nullptr;
}

}  // namespace

TEST_CASE("the tree has every group, command, option and positional of the table", "[completion]") {
  auto tree = completion_tree();
  REQUIRE(!tree.empty());
  CHECK(tree.front().path.empty());
  for (const GroupSpec& g : command_groups()) CHECK(find_completion_node(tree, g.name));
  for (const CommandSpec& c : command_table()) {
    INFO(path_of(c));
    const CompletionNode* n = find_completion_node(tree, path_of(c));
    REQUIRE(n);
    CHECK(n->command);
    // Listed under its parent.
    std::string parent = c.group.empty() ? "" : std::string(c.group);
    const CompletionNode* p = find_completion_node(tree, parent);
    REQUIRE(p);
    CHECK(std::find(p->children.begin(), p->children.end(), c.name) != p->children.end());
    size_t positionals = 0;
    for (const ArgSpec& a : c.args) {
      if (a.positional()) {
        ++positionals;
        continue;
      }
      std::string_view names = a.names;
      for (size_t start = 0; start <= names.size();) {
        size_t comma = std::min(names.find(',', start), names.size());
        std::string_view name = names.substr(start, comma - start);
        INFO(name);
        const CompletionOption* o = option_named(*n, name);
        REQUIRE(o);
        CHECK(o->takes_value == (a.kind != ArgKind::flag));
        start = comma + 1;
      }
    }
    CHECK(n->positionals.size() == positionals);
    CHECK(option_named(*n, "--socket"));
    CHECK(option_named(*n, "--help"));
  }
}

TEST_CASE("values: IDs, names and references from nexusd, words and paths locally", "[completion]") {
  auto tree = completion_tree();
  auto node = [&](std::string_view path) {
    const CompletionNode* n = find_completion_node(tree, path);
    REQUIRE(n);
    return n;
  };
  CHECK(node("sandbox run")->positionals.at(0).values.kind == "sandbox-ids");
  CHECK(node("sandbox exec")->positionals.at(0).values.kind == "sandbox-ids");
  CHECK(node("sandbox exec")->positionals.at(1).rest);
  CHECK(node("template show")->positionals.at(0).values.kind == "template-names");
  CHECK(node("image rm")->positionals.at(0).values.kind == "image-refs");
  CHECK(option_named(*node("sandbox create"), "--template")->values.kind == "template-names");
  CHECK(option_named(*node("sandbox create"), "-t")->values.kind == "template-names");
  CHECK(option_named(*node("sandbox run"), "-f")->values.kind == "file");
  CHECK(option_named(*node("template build"), "--context")->values.kind == "dir");
  const CompletionOption* language = option_named(*node("sandbox run"), "--language");
  CHECK(language->values.kind == "words");
  CHECK(language->values.words == std::vector<std::string>{"python", "javascript", "bash"});
  CHECK(option_named(*node("sandbox create"), "--isolation")->values.words ==
        std::vector<std::string>{"auto", "microvm", "jail"});
  CHECK(option_named(*node("sandbox run"), "--code")->excludes == std::vector<std::string>{"-f", "--file"});
  CHECK(option_named(*node("sandbox create"), "--env")->repeatable);
  CHECK(node("completion")->positionals.at(0).values.words ==
        std::vector<std::string>{"bash", "zsh", "fish"});
}

TEST_CASE("each script names every command and option", "[completion]") {
  auto tree = completion_tree();
  for (std::string_view shell : completion_shells) {
    auto script = completion_script(shell);
    REQUIRE(script);
    INFO(shell);
    for (const CompletionNode& n : tree) {
      for (const std::string& child : n.children) CHECK(script->find(child) != std::string::npos);
      for (const CompletionOption& o : n.options)
        for (const std::string& name : o.names) {
          // fish spells options without their dashes: -s t -l template
          std::string spelled = shell != "fish" ? name
                                : name.size() == 2 ? "-s " + name.substr(1)
                                                   : "-l " + name.substr(2);
          INFO(n.path << ": " << spelled);
          CHECK(script->find(spelled) != std::string::npos);
        }
    }
  }
  CHECK_FALSE(completion_script("ksh"));
}

TEST_CASE("nexus completion SHELL prints the script; a bad shell is a usage error", "[completion]") {
  Captured c;
  CHECK(run(c, {"completion", "bash"}) == exit_ok);
  CHECK(c.out == *completion_script("bash"));
  CHECK(c.out.find("complete -F _nexus nexus") != std::string::npos);
  Captured z;
  CHECK(run(z, {"completion", "zsh"}) == exit_ok);
  CHECK(z.out.rfind("#compdef nexus\n", 0) == 0);
  Captured f;
  CHECK(run(f, {"completion", "fish"}) == exit_ok);
  CHECK(f.out.find("complete -c nexus") != std::string::npos);
  Captured bad;
  CHECK(run(bad, {"completion", "ksh"}) == exit_usage);
  CHECK(bad.out.empty());
  CHECK(bad.err == "nexus: completion: unknown shell 'ksh' (valid: bash, zsh, fish)\n");
  Captured none;
  CHECK(run(none, {"completion"}) == exit_usage);
  Captured help;
  CHECK(run(help, {"completion", "--help"}) == exit_ok);
  CHECK(help.out.find("Usage: nexus completion SHELL") != std::string::npos);
}

TEST_CASE("the help of nexus: the table's commands, and a pointer to nexus completion", "[completion]") {
  Captured c;
  CHECK(run(c, {"--help"}) == exit_ok);
  CHECK(c.out.find("sandbox") != std::string::npos);
  CHECK(c.out.find("__complete") == std::string::npos);  // hidden
  CHECK(c.out.find("\n  completion ") == std::string::npos);  // not listed as a command
  CHECK(c.out.find("Shell completion: nexus completion bash|zsh|fish") != std::string::npos);
}

TEST_CASE("__complete: values from nexusd, one per line", "[completion]") {
  FakeNexusd server(temp_socket(), [](const SeenRequest& req) -> Reply {
    if (req.target == "/v1/sandboxes")
      return FakeNexusd::json(200, R"({"sandboxes": [
          {"sandbox_id": "sb_aaaaaaaaaaaaaaaaaaaa", "name": "demo", "status": "active"},
          {"sandbox_id": "sb_bbbbbbbbbbbbbbbbbbbb", "name": "", "status": "paused"},
          {"sandbox_id": "sb_evil\nrm -rf", "status": "active"},
          {"sandbox_id": 7}]})");
    if (req.target == "/v1/templates")
      return FakeNexusd::json(200, R"({"templates": [{"name": "ai-agent-default", "status": "ready"},
                                                     {"name": "py", "status": "building"}]})");
    if (req.target == "/v1/images")
      return FakeNexusd::json(200, R"({"images": [{"reference": "docker.io/library/debian:12",
          "manifest_digest": "sha256:0123456789abcdef0123456789abcdef"}]})");
    return FakeNexusd::json(404, R"({"error": {"code": "not_found", "message": "no"}})");
  });
  Captured ids;
  CHECK(run(ids, {"__complete", "sandbox-ids", "--socket", server.path()}) == exit_ok);
  CHECK(ids.out == "sb_aaaaaaaaaaaaaaaaaaaa\nsb_bbbbbbbbbbbbbbbbbbbb\n");
  Captured described;
  CHECK(run(described, {"__complete", "sandbox-ids", "--describe"}, server.path()) == exit_ok);
  CHECK(described.out == "sb_aaaaaaaaaaaaaaaaaaaa\tdemo (active)\nsb_bbbbbbbbbbbbbbbbbbbb\tpaused\n");
  Captured names;
  CHECK(run(names, {"__complete", "template-names", "--socket=" + server.path(), "--describe"}) == 0);
  CHECK(names.out == "ai-agent-default\tready\npy\tbuilding\n");
  Captured refs;
  CHECK(run(refs, {"__complete", "image-refs", "--socket", server.path()}) == exit_ok);
  CHECK(refs.out == "docker.io/library/debian:12\n");
  auto seen = server.requests();
  REQUIRE(seen.size() == 4);
  CHECK(seen[0].method == "GET");
  CHECK(seen[0].target == "/v1/sandboxes");
  CHECK(seen[2].target == "/v1/templates");
  CHECK(seen[3].target == "/v1/images");
}

TEST_CASE("__complete: nothing, exit 0, when nexusd cannot be reached or errs", "[completion]") {
  Captured c;
  CHECK(run(c, {"__complete", "sandbox-ids", "--socket", temp_socket()}) == exit_ok);
  CHECK(c.out.empty());
  CHECK(c.err.empty());
  FakeNexusd server(temp_socket(), [](const SeenRequest&) -> Reply {
    return FakeNexusd::json(500, R"({"error": {"code": "internal", "message": "boom"}})");
  });
  Captured e;
  CHECK(run(e, {"__complete", "template-names", "--socket", server.path()}) == exit_ok);
  CHECK(e.out.empty());
  CHECK(e.err.empty());
  Captured bad;
  CHECK(run(bad, {"__complete", "everything"}) == exit_usage);
  CHECK(bad.out.empty());
}

TEST_CASE("completion_value_lines leaves out what is not a plain value", "[completion]") {
  CHECK(completion_value_lines("sandbox-ids", Json::parse(R"({"sandboxes": "no"})"), false).empty());
  CHECK(completion_value_lines("sandbox-ids", Json::parse(R"([1, 2])"), false).empty());
  CHECK(completion_value_lines("template-names", Json::parse(R"({"templates": [{"name": ""}, {"name": "a\tb"},
      {"name": "ok", "status": "x\ny"}]})"), true) == "ok\n");
  CHECK(completion_value_lines("nothing", Json::parse(R"({"templates": [{"name": "a"}]})"), false).empty());
}
