// SPDX-License-Identifier: Apache-2.0
// The code interpreter (/execute, /contexts) of the real nexus-agent binary (--single-user),
// with real python3, node and bash kernels.
#include <catch.hpp>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "agent_harness.hpp"
#include "common/http.hpp"
#include "common/json.hpp"
#include "common/uv.hpp"

using namespace nexus;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// The agent looks for kernels on its default PATH (agent_state.hpp), and so does this check.
bool have_program(const char* name) {
  for (const char* dir : {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"})
    if (::access((std::string(dir) + "/" + name).c_str(), X_OK) == 0) return true;
  return false;
}

// The kernels are part of what these tests check, and tools/test installs them (python3 and
// bash from Debian, node >= 20 via tools/deps.sh): a missing one is a failure, not a skip.
#define REQUIRE_PROGRAM(name)                                                          \
  do {                                                                                 \
    if (!have_program(name)) FAIL(name " is not installed (tools/test installs it)");   \
  } while (0)

using InterpAgent = agent_test::AgentProcess;

struct Line {
  Json json;
  Clock::time_point at;
};

struct ExecResult {
  int status = 0;
  std::string content_type;
  std::string body;  // non-2xx bodies
  std::vector<Line> lines;
  bool done = false;

  std::vector<Json> of_type(const std::string& type) const {
    std::vector<Json> out;
    for (const auto& l : lines)
      if (l.json.value("type", "") == type) out.push_back(l.json);
    return out;
  }
  std::string text(const std::string& type) const {
    std::string s;
    for (const auto& j : of_type(type)) s += j.value("text", "");
    return s;
  }
  std::optional<std::string> main_result() const {
    for (const auto& j : of_type("result"))
      if (j.value("is_main_result", false)) return j.value("text", "");
    return std::nullopt;
  }
  std::optional<Json> error() const {
    auto e = of_type("error");
    if (e.empty()) return std::nullopt;
    return e.front();
  }
};

class InterpClient {
 public:
  explicit InterpClient(const InterpAgent& agent) : ep_(http::Endpoint::unix_socket(agent.sock())) {}

  /// Start POST /execute; lines are parsed as they arrive.
  std::shared_ptr<ExecResult> execute_async(const Json& body, http::Headers headers = {},
                                            std::function<void()> on_done = {}) {
    auto res = std::make_shared<ExecResult>();
    auto pending = std::make_shared<std::string>();
    http::ClientRequest req;
    req.method = "POST";
    req.target = "/execute";
    req.headers = std::move(headers);
    req.headers.set("Content-Type", "application/json");
    req.body = dump_json(body);
    http::ResponseCallbacks cb;
    cb.on_head = [res](const http::ResponseHead& h) {
      res->status = h.status;
      res->content_type = std::string(h.headers.get("Content-Type").value_or(""));
    };
    cb.on_data = [this, res, pending](std::string_view d) {
      if (res->status != 200) {
        res->body.append(d);
        return;
      }
      pending->append(d);
      size_t nl;
      while ((nl = pending->find('\n')) != std::string::npos) {
        std::string line = pending->substr(0, nl);
        pending->erase(0, nl + 1);
        auto j = parse_json(line);
        REQUIRE(j);  // the SDK throws on anything that is not JSON, empty lines included
        res->lines.push_back({*j, Clock::now()});
      }
      loop_.stop();  // let run_until() look at the new lines
    };
    cb.on_end = [this, res, pending, on_done](Result<void>) {
      CHECK(pending->empty());
      res->done = true;
      if (on_done) on_done();
      loop_.stop();
    };
    last_call_ = http::request(loop_, ep_, std::move(req), std::move(cb));
    return res;
  }

  ExecResult execute(const Json& body, http::Headers headers = {}, int timeout_s = 30) {
    auto res = execute_async(body, std::move(headers));
    run_until([&] { return res->done; }, timeout_s);
    REQUIRE(res->done);
    return *res;
  }

  http::Response fetch(const std::string& method, const std::string& target,
                       std::optional<Json> body = std::nullopt, http::Headers headers = {}) {
    http::ClientRequest req;
    req.method = method;
    req.target = target;
    req.headers = std::move(headers);
    if (body) {
      req.headers.set("Content-Type", "application/json");
      req.body = dump_json(*body);
    }
    return agent_test::fetch_blocking(loop_, ep_, std::move(req));
  }

  std::shared_ptr<http::ClientCall> last_call() const { return last_call_; }

  void run_until(const std::function<bool()>& pred, int timeout_s = 30) { agent_test::run_loop_until(loop_, pred, timeout_s); }

  /// Run the loop for `ms` milliseconds.
  void run_for(uint64_t ms) {
    bool fired = false;
    uv::Timer t(loop_);
    t.start(ms, 0, [&] {
      fired = true;
      loop_.stop();
    });
    while (!fired) loop_.run();
  }

 private:
  uv::Loop loop_;
  http::Endpoint ep_;
  std::shared_ptr<http::ClientCall> last_call_;
};

void check_framing(const ExecResult& r) {
  REQUIRE(r.status == 200);
  REQUIRE(r.lines.size() >= 2);
  CHECK(r.lines.front().json["type"] == "number_of_executions");
  CHECK(r.lines.back().json["type"] == "end_of_execution");
  for (const auto& l : r.of_type("stdout")) CHECK(l["timestamp"].is_string());
}

}  // namespace

TEST_CASE("interpreter: python state, main result and output", "[interpreter]") {
  REQUIRE_PROGRAM("python3");
  InterpAgent agent;
  InterpClient c(agent);

  auto r = c.execute({{"code", "x = 41\nprint(\"hi\")\nx + 1"}});
  check_framing(r);
  CHECK(r.content_type == "application/x-ndjson");
  CHECK(r.lines.front().json["execution_count"] == 1);
  CHECK(r.text("stdout") == "hi\n");
  auto stdout_lines = r.of_type("stdout");
  REQUIRE(stdout_lines.size() == 1);  // one kernel stream chunk per print
  REQUIRE(r.main_result());
  CHECK(*r.main_result() == "42");
  CHECK_FALSE(r.error());

  // State persists; strings lose their quotes; None and `;` give no result.
  r = c.execute({{"code", "x"}});
  CHECK(r.lines.front().json["execution_count"] == 2);
  CHECK(r.main_result().value_or("") == "41");
  r = c.execute({{"code", "s = 'abc'\ns"}});
  CHECK(r.main_result().value_or("") == "abc");
  // Only single quotes go, as on E2B: a repr in double quotes keeps them.
  r = c.execute({{"code", "\"it's\""}});
  CHECK(r.main_result().value_or("") == "\"it's\"");
  r = c.execute({{"code", "display('shown')\n'x'"}});
  REQUIRE(r.of_type("result").size() == 2);
  CHECK(r.of_type("result")[0]["text"] == "shown");
  r = c.execute({{"code", "None"}});
  CHECK_FALSE(r.main_result());
  r = c.execute({{"code", "x;"}});
  CHECK_FALSE(r.main_result());
  r = c.execute({{"code", "{'b': 1, 'a': [1, 2]}"}});
  CHECK(r.main_result().value_or("") == "{'b': 1, 'a': [1, 2]}");

  // Output of child processes, stderr, top-level await.
  r = c.execute({{"code", "import os, sys\nos.system('echo child')\nprint('err', file=sys.stderr)"}});
  CHECK(r.text("stdout") == "child\n");
  CHECK(r.text("stderr") == "err\n");
  r = c.execute({{"code", "import asyncio\nawait asyncio.sleep(0.01)\n'awaited'"}});
  CHECK(r.main_result().value_or("") == "awaited");
}

TEST_CASE("interpreter: output streams before a slow cell ends", "[interpreter]") {
  REQUIRE_PROGRAM("python3");
  InterpAgent agent;
  InterpClient c(agent);
  auto r = c.execute({{"code", "import time\nprint('first')\ntime.sleep(1)\nprint('second')"}});
  check_framing(r);
  const Line* first = nullptr;
  for (const auto& l : r.lines)
    if (l.json.value("type", "") == "stdout" && l.json.value("text", "") == "first\n") first = &l;
  REQUIRE(first);
  auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(r.lines.back().at - first->at);
  CHECK(gap.count() >= 700);
  CHECK(r.text("stdout") == "first\nsecond\n");
}

TEST_CASE("interpreter: python errors", "[interpreter]") {
  REQUIRE_PROGRAM("python3");
  InterpAgent agent;
  InterpClient c(agent);
  auto r = c.execute({{"code", "y = 1\n1 / 0"}});
  check_framing(r);
  auto e = r.error();
  REQUIRE(e);
  CHECK((*e)["name"] == "ZeroDivisionError");
  CHECK((*e)["value"] == "division by zero");
  std::string tb = (*e)["traceback"];
  CHECK(tb.find("Traceback") != std::string::npos);
  CHECK(tb.find("<cell-") != std::string::npos);
  CHECK(tb.find("ZeroDivisionError: division by zero") != std::string::npos);
  CHECK(tb.find("_nexus") == std::string::npos);  // no driver frames
  CHECK_FALSE(r.main_result());

  r = c.execute({{"code", "x +"}});
  REQUIRE(r.error());
  CHECK((*r.error())["name"] == "SyntaxError");

  // The context survives errors, and a crashed kernel comes back.
  r = c.execute({{"code", "y"}});
  CHECK(r.main_result().value_or("") == "1");
  r = c.execute({{"code", "import os\nos._exit(3)"}});
  check_framing(r);
  REQUIRE(r.error());
  CHECK((*r.error())["name"] == "KernelDiedError");
  r = c.execute({{"code", "'alive'"}});
  CHECK(r.main_result().value_or("") == "alive");
  CHECK(r.lines.front().json["execution_count"] == 1);
}

TEST_CASE("interpreter: python display() and rich results", "[interpreter]") {
  REQUIRE_PROGRAM("python3");
  InterpAgent agent;
  InterpClient c(agent);
  // display() is a builtin, as in a notebook; its outputs are results that are not the main one.
  auto r = c.execute({{"code", "display(5)\nprint('between')\n7"}});
  check_framing(r);
  auto results = r.of_type("result");
  REQUIRE(results.size() == 2);
  CHECK(results[0]["is_main_result"] == false);
  CHECK(results[0]["text"] == "5");
  CHECK(*r.main_result() == "7");
  CHECK(r.text("stdout") == "between\n");

  // Objects with _repr_*_ methods give their mime types; bytes are base64.
  r = c.execute({{"code", "class R:\n"
                          "    def _repr_html_(self): return '<b>hi</b>'\n"
                          "    def _repr_png_(self): return b'\\x89PNG'\n"
                          "    def __repr__(self): return 'R()'\n"
                          "R()"}});
  results = r.of_type("result");
  REQUIRE(results.size() == 1);
  CHECK(results[0]["html"] == "<b>hi</b>");
  CHECK(results[0]["png"] == "iVBORw==");
  CHECK(results[0]["text"] == "R()");

  // Without IPython installed, `from IPython.display import ...` still works.
  r = c.execute({{"code", "from IPython.display import display, HTML, Markdown, Image, JSON\n"
                          "display(HTML('<i>x</i>'))\n"
                          "display(Markdown('# T'))\n"
                          "display(Image(data=b'\\xff\\xd8jpeg'))\n"
                          "JSON({'a': [1, 2]})"}});
  CHECK_FALSE(r.error());
  results = r.of_type("result");
  REQUIRE(results.size() == 4);
  CHECK(results[0]["html"] == "<i>x</i>");
  CHECK(results[1]["markdown"] == "# T");
  CHECK(results[2]["jpeg"] == "/9hqcGVn");
  CHECK_FALSE(results[2].contains("png"));
  CHECK(results[3]["is_main_result"] == true);
  CHECK(results[3]["json"] == Json{{"a", {1, 2}}});
}

TEST_CASE("interpreter: matplotlib charts become PNG results", "[interpreter]") {
  REQUIRE_PROGRAM("python3");
  if (std::system("PATH=/usr/local/bin:/usr/bin:/bin python3 -c 'import matplotlib' >/dev/null 2>&1") != 0)
    FAIL("python3-matplotlib is not installed (tools/test installs it)");
  InterpAgent agent;
  InterpClient c(agent);
  auto png_results = [](const ExecResult& r) {
    std::vector<Json> out;
    for (const auto& j : r.of_type("result"))
      if (j.contains("png")) out.push_back(j);
    return out;
  };
  // plt.show() displays the figure; the PNG starts with the PNG signature ("iVBORw0KGgo").
  auto r = c.execute({{"code", "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.show()"}}, {}, 60);
  check_framing(r);
  CHECK_FALSE(r.error());
  CHECK(r.text("stderr").find("non-interactive") == std::string::npos);
  auto pngs = png_results(r);
  REQUIRE(pngs.size() == 1);
  CHECK(pngs[0]["is_main_result"] == false);
  CHECK(pngs[0]["png"].get<std::string>().rfind("iVBORw0KGgo", 0) == 0);
  // A figure drawn without show() is displayed when the cell ends, once.
  r = c.execute({{"code", "fig, ax = plt.subplots()\nax.bar(['a', 'b'], [3, 5])\nNone"}});
  CHECK(png_results(r).size() == 1);
  r = c.execute({{"code", "1 + 1"}});
  CHECK(png_results(r).empty());
  CHECK(r.main_result().value_or("") == "2");
  // A subprocess does not inherit the inline backend (it could not import it).
  r = c.execute({{"code", "import subprocess\nprint(subprocess.run(['python3', '-c', "
                          "'import matplotlib; print(matplotlib.get_backend())'], capture_output=True, "
                          "text=True).stdout.strip())"}}, {}, 60);
  CHECK(r.text("stdout").find("_nexus") == std::string::npos);
  CHECK_FALSE(r.text("stdout").empty());
}

TEST_CASE("interpreter: javascript", "[interpreter]") {
  REQUIRE_PROGRAM("node");
  InterpAgent agent;
  InterpClient c(agent);
  auto r = c.execute({{"code", "let a = 41\nconsole.log('hi')\na + 1"}, {"language", "javascript"}});
  check_framing(r);
  CHECK(r.text("stdout") == "hi\n");
  CHECK(r.main_result().value_or("") == "42");
  r = c.execute({{"code", "({k: [1, 2], s: 'x'})"}, {"language", "js"}});
  CHECK(r.main_result().value_or("") == "{ k: [ 1, 2 ], s: 'x' }");
  r = c.execute({{"code", "'str'"}, {"language", "js"}});
  CHECK(r.main_result().value_or("") == "str");
  r = c.execute({{"code", "const b = await Promise.resolve(a * 2); b"}, {"language", "js"}});
  CHECK(r.main_result().value_or("") == "82");
  r = c.execute({{"code", "b + 1"}, {"language", "js"}});
  CHECK(r.main_result().value_or("") == "83");
  r = c.execute({{"code", "undefined"}, {"language", "js"}});
  CHECK_FALSE(r.main_result());
  r = c.execute({{"code", "null.x"}, {"language", "js"}});
  REQUIRE(r.error());
  CHECK((*r.error())["name"] == "TypeError");
  CHECK(std::string((*r.error())["traceback"]).find("TypeError") != std::string::npos);

  // The default javascript context is the listed one (with python's, never used here).
  auto list = c.fetch("GET", "/contexts");
  auto contexts = parse_json(list.body).value();
  REQUIRE(contexts.size() == 2);
  CHECK(contexts[0]["language"] == "python");
  CHECK(contexts[1]["language"] == "javascript");
  CHECK(contexts[1]["cwd"] == agent.home());
}

TEST_CASE("interpreter: default python and javascript contexts are listed before first use", "[interpreter]") {
  REQUIRE_PROGRAM("python3");
  InterpAgent agent;
  InterpClient c(agent);
  auto contexts = parse_json(c.fetch("GET", "/contexts").body).value();
  REQUIRE(contexts.size() == 2);
  CHECK(contexts[0]["language"] == "python");
  CHECK(contexts[1]["language"] == "javascript");
  CHECK(contexts[0]["cwd"] == agent.home());
  std::string py = contexts[0]["id"];
  // Listing starts no kernel: the agent has no child processes yet.
  std::string kids;
  std::ifstream(fmt::format("/proc/{}/task/{}/children", agent.pid(), agent.pid())) >> kids;
  CHECK(kids.empty());
  // The default python context runs code given without a context, and by its id.
  CHECK(c.execute({{"code", "v = 7"}}).status == 200);
  auto r = c.execute({{"code", "v"}, {"context_id", py}});
  CHECK(r.main_result().value_or("") == "7");
  CHECK(parse_json(c.fetch("GET", "/contexts").body).value().size() == 2);
  // Removed, a default comes back as a new context on next use.
  CHECK(c.fetch("DELETE", "/contexts/" + py).status == 204);
  r = c.execute({{"code", "'v' in globals()"}});
  CHECK(r.main_result().value_or("") == "False");
}

TEST_CASE("interpreter: bash", "[interpreter]") {
  REQUIRE_PROGRAM("bash");
  InterpAgent agent;
  InterpClient c(agent);
  Json lang = "bash";
  auto r = c.execute({{"code", "v=hello\ncd /tmp\necho \"$v\"; echo oops >&2"}, {"language", lang}});
  check_framing(r);
  CHECK(r.text("stdout") == "hello\n");
  CHECK(r.text("stderr") == "oops\n");
  CHECK_FALSE(r.main_result());
  CHECK_FALSE(r.error());
  r = c.execute({{"code", "echo $v $(pwd)"}, {"language", lang}});
  CHECK(r.text("stdout") == "hello /tmp\n");
  r = c.execute({{"code", "echo 'it''s' \"$((6 * 7))\"; false"}, {"language", lang}});
  CHECK(r.text("stdout") == "its 42\n");
  REQUIRE(r.error());
  CHECK(std::string((*r.error())["value"]).find("1") != std::string::npos);
  r = c.execute({{"code", "cat; echo done"}, {"language", lang}});  // stdin is /dev/null
  CHECK(r.text("stdout") == "done\n");
}

TEST_CASE("interpreter: env_vars apply to one execution", "[interpreter]") {
  REQUIRE_PROGRAM("python3");
  InterpAgent agent;
  InterpClient c(agent);
  std::string code = "import os\nos.environ.get('NEXUS_T', 'unset')";
  auto r = c.execute({{"code", code}, {"env_vars", {{"NEXUS_T", "v1"}}}});
  CHECK(r.main_result().value_or("") == "v1");
  r = c.execute({{"code", code}});
  CHECK(r.main_result().value_or("") == "unset");
  r = c.execute({{"code", "import subprocess\nprint(subprocess.run(['sh', '-c', 'echo $NEXUS_T'], "
                          "capture_output=True, text=True).stdout, end='')"},
                 {"env_vars", {{"NEXUS_T", "child"}}}});
  CHECK(r.text("stdout") == "child\n");

  REQUIRE_PROGRAM("bash");
  {
    r = c.execute({{"code", "echo ${NEXUS_T:-unset}"}, {"language", "bash"},
                   {"env_vars", {{"NEXUS_T", "it's"}}}});
    CHECK(r.text("stdout") == "it's\n");
    r = c.execute({{"code", "echo ${NEXUS_T:-unset}"}, {"language", "bash"}});
    CHECK(r.text("stdout") == "unset\n");
  }
}

TEST_CASE("interpreter: contexts CRUD and restart", "[interpreter]") {
  REQUIRE_PROGRAM("python3");
  InterpAgent agent;
  InterpClient c(agent);
  auto created = c.fetch("POST", "/contexts?source=test", Json{{"cwd", agent.dir()}});
  REQUIRE(created.status == 200);
  auto ctx = parse_json(created.body).value();
  std::string id = ctx["id"];
  CHECK(ctx["language"] == "python");
  CHECK(ctx["cwd"] == agent.dir());
  CHECK(id.size() == 36);

  auto r = c.execute({{"code", "import os\nz = 5\nos.getcwd()"}, {"context_id", id}});
  CHECK(r.main_result().value_or("") == agent.dir());
  // The default context is another one.
  r = c.execute({{"code", "'z' in globals()"}});
  CHECK(r.main_result().value_or("") == "False");

  auto list = parse_json(c.fetch("GET", "/contexts?source=test").body).value();
  REQUIRE(list.is_array());
  CHECK(list.size() == 3);  // the default python and javascript ones too
  bool found = false;
  for (const auto& e : list) found = found || e["id"] == id;
  CHECK(found);

  auto restarted = c.fetch("POST", "/contexts/" + id + "/restart");
  CHECK(restarted.status == 204);
  r = c.execute({{"code", "'z' in globals()"}, {"context_id", id}});
  CHECK(r.main_result().value_or("") == "False");
  CHECK(r.lines.front().json["execution_count"] == 1);

  CHECK(c.fetch("DELETE", "/contexts/" + id).status == 204);
  auto gone = c.fetch("DELETE", "/contexts/" + id);
  CHECK(gone.status == 404);
  CHECK(gone.body.find(id) != std::string::npos);
  CHECK(c.fetch("POST", "/contexts/" + id + "/restart").status == 404);
  auto missing = c.execute({{"code", "1"}, {"context_id", id}});
  CHECK(missing.status == 404);
  CHECK(parse_json(c.fetch("GET", "/contexts").body).value().size() == 2);

  REQUIRE_PROGRAM("node");
  {
    auto js = c.fetch("POST", "/contexts", Json{{"language", "js"}});
    REQUIRE(js.status == 200);
    auto jctx = parse_json(js.body).value();
    CHECK(jctx["language"] == "javascript");
    r = c.execute({{"code", "process.cwd()"}, {"context_id", jctx["id"]}});
    CHECK(r.main_result().value_or("") == agent.home());
  }
  CHECK(c.fetch("POST", "/contexts", Json{{"language", "r"}}).status == 404);  // the SDK shows a 404's text
  CHECK(c.fetch("POST", "/contexts", Json{{"cwd", agent.dir() + "/nope"}}).status == 400);
}

TEST_CASE("interpreter: bad requests", "[interpreter]") {
  InterpAgent agent;
  InterpClient c(agent);
  auto both = c.execute({{"code", "1"}, {"context_id", "x"}, {"language", "python"}});
  CHECK(both.status == 400);
  CHECK_FALSE(both.body.empty());
  auto unknown = c.execute({{"code", "1"}, {"context_id", "does-not-exist"}});
  CHECK(unknown.status == 404);
  CHECK(unknown.body == "Context does-not-exist not found");
  // Languages without a kernel here: 404 with the reason (the SDK shows it as NotFoundError).
  for (const char* l : {"typescript", "ts", "r", "java"}) {
    auto r = c.execute({{"code", "1"}, {"language", l}});
    CHECK(r.status == 404);
    CHECK(r.body.find("not supported") != std::string::npos);
  }
  auto cobol = c.execute({{"code", "1"}, {"language", "cobol"}});
  CHECK(cobol.status == 404);
  CHECK(cobol.body.find("Unknown language 'cobol'") != std::string::npos);
  CHECK(c.execute({{"language", "python"}}).status == 400);  // no code
  auto get = c.fetch("GET", "/execute");
  CHECK(get.status == 405);
}

TEST_CASE("interpreter: /contexts needs the traffic token, /execute the access token", "[interpreter]") {
  REQUIRE_PROGRAM("python3");
  InterpAgent agent;
  InterpClient c(agent);
  auto init = c.fetch("POST", "/init", Json{{"accessToken", "s3cret"}, {"trafficAccessToken", "tr4ffic"}});
  REQUIRE(init.status == 204);
  http::Headers traffic, wrong, access;
  traffic.set("E2B-Traffic-Access-Token", "tr4ffic");
  wrong.set("E2B-Traffic-Access-Token", "s3cret");
  access.set("X-Access-Token", "s3cret");
  // The code-interpreter SDK sends the traffic token on /contexts (and no access token).
  CHECK(c.fetch("GET", "/contexts").status == 401);
  CHECK(c.fetch("POST", "/contexts", Json::object()).status == 401);
  CHECK(c.fetch("GET", "/contexts", std::nullopt, wrong).status == 401);
  CHECK(c.fetch("GET", "/contexts", std::nullopt, traffic).status == 200);
  CHECK(c.fetch("POST", "/contexts", Json::object(), traffic).status == 200);
  CHECK(c.fetch("GET", "/contexts", std::nullopt, access).status == 200);
  // /execute needs the access token; the traffic token alone is not enough.
  CHECK(c.execute({{"code", "1"}}).status == 401);
  CHECK(c.execute({{"code", "1"}}, traffic).status == 401);
  auto r = c.execute({{"code", "1"}}, access);
  CHECK(r.status == 200);
  CHECK(r.main_result().value_or("") == "1");
}

TEST_CASE("interpreter: executions in a context run one at a time", "[interpreter]") {
  REQUIRE_PROGRAM("python3");
  InterpAgent agent;
  InterpClient c(agent);
  REQUIRE(c.execute({{"code", "order = []"}}).status == 200);
  auto first = c.execute_async({{"code", "import time\ntime.sleep(0.5)\norder.append(1)"}});
  auto second = c.execute_async({{"code", "order.append(2)\norder"}});
  c.run_until([&] { return first->done && second->done; });
  REQUIRE(first->done);
  REQUIRE(second->done);
  CHECK(second->main_result().value_or("") == "[1, 2]");
  CHECK(first->lines.back().at <= second->lines.back().at);
}

TEST_CASE("interpreter: a disconnect interrupts the execution", "[interpreter]") {
  InterpAgent agent;
  InterpClient c(agent);
  struct Case {
    const char* program;
    const char* language;
    const char* setup;
    const char* loop;
    const char* check;
    const char* expect_stdout;
    const char* expect_result;
  };
  const Case cases[] = {
      {"python3", "python", "x = 5", "while True:\n    pass", "x", "", "5"},
      {"python3", "python", "x = 6", "import time\ntime.sleep(100)", "x", "", "6"},
      {"node", "javascript", "var x = 7", "while (true) {}", "x", "", "7"},
      {"node", "javascript", "var y = 8", "await new Promise(() => {})", "y", "", "8"},
      {"bash", "bash", "x=9", "while true; do :; done", "echo $x", "9\n", ""},
      {"bash", "bash", "x=10", "sleep 100", "echo $x", "10\n", ""},
  };
  for (const auto& k : cases) {
    if (!have_program(k.program)) FAIL(k.program << " is not installed (tools/test installs it)");
    INFO(k.language << ": " << k.loop);
    REQUIRE(c.execute({{"code", k.setup}, {"language", k.language}}).status == 200);
    auto running = c.execute_async({{"code", k.loop}, {"language", k.language}});
    auto call = c.last_call();
    c.run_until([&] { return !running->lines.empty(); }, 10);
    REQUIRE_FALSE(running->lines.empty());
    c.run_for(300);
    CHECK_FALSE(running->done);
    call->cancel();
    auto start = Clock::now();
    auto after = c.execute({{"code", k.check}, {"language", k.language}});
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    CHECK(after.status == 200);
    CHECK(after.text("stdout") == k.expect_stdout);
    if (*k.expect_result) CHECK(after.main_result().value_or("") == k.expect_result);
    CHECK_FALSE(after.error());
    CHECK(took.count() < 2500);  // interrupted, not killed after the grace period
  }
}

TEST_CASE("interpreter: big output, split characters and a silent cell", "[interpreter]") {
  REQUIRE_PROGRAM("python3");
  InterpAgent agent;
  InterpClient c(agent);
  auto r = c.execute({{"code", "for i in range(20000):\n    print(i)\nprint('\\u00e9' * 100001)"}});
  check_framing(r);
  std::string expected;
  for (int i = 0; i < 20000; ++i) expected += std::to_string(i) + "\n";
  for (int i = 0; i < 100001; ++i) expected += "\xc3\xa9";
  expected += "\n";
  CHECK(r.text("stdout") == expected);

  // Keepalives while the kernel is silent for more than 5 s.
  r = c.execute({{"code", "import time\ntime.sleep(5.6)\n'woke'"}});
  check_framing(r);
  CHECK(r.of_type("keepalive").size() == 1);
  CHECK(r.main_result().value_or("") == "woke");
}

TEST_CASE("interpreter: garbage from the kernel is dropped", "[interpreter]") {
  REQUIRE_PROGRAM("python3");
  InterpAgent agent;
  InterpClient c(agent);
  // User code can reach the driver's events FIFO; what it writes there must not break the
  // stream: malformed lines, unknown ids, invalid UTF-8 and absurd nesting are dropped.
  auto r = c.execute({{"code",
                       "import os\n"
                       "for fd in os.listdir('/proc/self/fd'):\n"
                       "    try:\n"
                       "        target = os.readlink('/proc/self/fd/' + fd)\n"
                       "    except OSError:\n"
                       "        continue\n"
                       "    if '.nexus-kernel-' in target:\n"
                       "        os.write(int(fd), b'not json\\n{\"type\":\"done\",\"id\":999999}\\n"
                       "\\xff\\xfe{\\n[1,2]\\n{\"type\":\"result\",\"id\":\"x\"}\\n')\n"
                       // Nesting deep enough to overflow a recursive copy (it crashed PID 1).
                       "        for i in range(1, 4):\n"
                       "            os.write(int(fd), b'{\"type\":\"result\",\"id\":%d,\"json\":' % i"
                       " + b'[' * 200000 + b']' * 200000 + b'}\\n')\n"
                       "'still fine'"}});
  check_framing(r);
  CHECK(r.main_result().value_or("") == "still fine");
  CHECK_FALSE(r.error());
  r = c.execute({{"code", "1 + 1"}});
  CHECK(r.main_result().value_or("") == "2");
}

TEST_CASE("interpreter: /init environment reaches the kernels", "[interpreter]") {
  REQUIRE_PROGRAM("python3");
  InterpAgent agent;
  InterpClient c(agent);
  REQUIRE(c.fetch("POST", "/init", Json{{"envVars", {{"SANDBOX_VAR", "from-init"}}}}).status == 204);
  auto r = c.execute({{"code", "import os\nos.environ.get('SANDBOX_VAR')"}});
  CHECK(r.main_result().value_or("") == "from-init");
  REQUIRE_PROGRAM("bash");
  {
    r = c.execute({{"code", "echo $SANDBOX_VAR"}, {"language", "bash"}});
    CHECK(r.text("stdout") == "from-init\n");
  }
}
