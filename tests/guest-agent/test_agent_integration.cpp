// SPDX-License-Identifier: Apache-2.0
// Integration tests: the real nexus-agent binary (--single-user) over a Unix socket.
#include <catch.hpp>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "common/http.hpp"
#include "common/json.hpp"
#include "common/strings.hpp"
#include "common/uv.hpp"
#include "common/connect_envelope.hpp"
#include "guest-agent/process_tree.hpp"

#include "agent_harness.hpp"

using namespace nexus;
using namespace nexus::agent;
using namespace agent_test;
namespace {

Json start_body(const std::string& script, std::optional<bool> use_stdin = false) {
  Json b = {{"process", {{"cmd", "/bin/sh"}, {"args", {"-c", script}}}}};
  if (use_stdin) b["stdin"] = *use_stdin;
  return b;
}

int64_t start_pid(const StreamResult& r) {
  REQUIRE_FALSE(r.messages.empty());
  REQUIRE(r.messages[0]["event"].contains("start"));
  return r.messages[0]["event"]["start"]["pid"].get<int64_t>();
}

bool process_gone(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  if (!f) return true;
  std::string line;
  std::getline(f, line);
  auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

std::string multipart_body(const std::string& boundary,
                           const std::vector<std::pair<std::string, std::string>>& files) {
  std::string b;
  for (const auto& [name, data] : files) {
    b += "--" + boundary + "\r\n";
    b += "Content-Disposition: form-data; name=\"file\"; filename=\"" + name + "\"\r\n";
    b += "Content-Type: application/octet-stream\r\n\r\n";
    b += data + "\r\n";
  }
  b += "--" + boundary + "--\r\n";
  return b;
}

std::string gzip(const std::string& data) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string binary_data(size_t n) {
  std::string s(n, '\0');
  uint32_t x = 12345;
  for (auto& c : s) {
    x = x * 1103515245 + 12345;
    c = static_cast<char>(x >> 16);
  }
  return s;
}

}  // namespace

TEST_CASE("agent: health, unknown paths and RPCs", "[agent][integration]") {
  AgentProcess agent;
  Client c(agent);
  http::ClientRequest health;
  health.target = "/health";
  auto h = c.fetch(health);
  CHECK(h.status == 204);
  CHECK(h.headers.get("Cache-Control").value_or("") == "no-store");

  http::ClientRequest unknown;
  unknown.target = "/nope";
  auto u = c.fetch(unknown);
  CHECK(u.status == 404);
  CHECK(parse_json(u.body).value()["code"] == 404);

  auto rpc = c.rpc("Bogus", Json::object());
  CHECK(rpc.status == 404);
  CHECK(parse_json(rpc.body).value()["code"] == "unimplemented");

  http::ClientRequest fsreq;
  fsreq.method = "POST";
  fsreq.target = "/filesystem.Filesystem/Bogus";
  fsreq.headers.set("Content-Type", "application/json");
  fsreq.body = "{}";
  auto fsr = c.fetch(fsreq);
  CHECK(fsr.status == 404);
  CHECK(parse_json(fsr.body).value()["code"] == "unimplemented");

  auto bad = c.rpc("List", Json::object());
  CHECK(bad.status == 200);
  CHECK(parse_json(bad.body).value()["processes"].is_array());

  http::ClientRequest garbage;
  garbage.method = "POST";
  garbage.target = "/process.Process/SendSignal";
  garbage.headers.set("Content-Type", "application/json");
  garbage.body = "{not json";
  auto g = c.fetch(garbage);
  CHECK(g.status == 400);
  CHECK(parse_json(g.body).value()["code"] == "invalid_argument");

  auto missing = c.rpc("SendSignal", {{"process", {{"pid", 999999}}}, {"signal", "SIGNAL_SIGKILL"}});
  CHECK(missing.status == 404);
  CHECK(parse_json(missing.body).value()["code"] == "not_found");
}

TEST_CASE("agent: Start streams output and the exit status", "[agent][integration]") {
  AgentProcess agent;
  Client c(agent);
  auto r = c.stream("Start", start_body("echo out; echo err >&2; exit 3"));
  CHECK(r.status == 200);
  CHECK(r.content_type == "application/connect+json");
  CHECK(start_pid(r) > 0);
  CHECK(r.stdout_text == "out\n");
  CHECK(r.stderr_text == "err\n");
  REQUIRE(r.end_event);
  CHECK((*r.end_event)["exitCode"] == 3);
  CHECK((*r.end_event)["exited"] == true);
  CHECK((*r.end_event)["status"] == "exit status 3");
  CHECK((*r.end_event)["error"] == "exit status 3");
  REQUIRE(r.end_stream);
  CHECK(*r.end_stream == Json::object());
  CHECK(r.completed);
  CHECK(r.messages.back()["event"].contains("end"));

  // Environment and working directory defaults.
  auto env = c.stream("Start", start_body("echo $HOME:$USER:$FOO:$(pwd)"));
  CHECK(env.stdout_text == agent.home() + ":user::" + agent.home() + "\n");
  Json with_env = start_body("echo $FOO; pwd");
  with_env["process"]["envs"] = {{"FOO", "bar"}};
  with_env["process"]["cwd"] = "/tmp";
  auto e2 = c.stream("Start", with_env);
  CHECK(e2.stdout_text == "bar\n/tmp\n");
  CHECK((*e2.end_event)["exitCode"] == 0);
  CHECK_FALSE(e2.end_event->contains("error"));
}

TEST_CASE("agent: bad cwd and bad requests end the stream with errors", "[agent][integration]") {
  AgentProcess agent;
  Client c(agent);
  Json b = start_body("true");
  b["process"]["cwd"] = "/nonexistent-dir";
  auto r = c.stream("Start", b);
  CHECK(r.status == 200);
  CHECK(r.messages.empty());
  REQUIRE(r.end_stream);
  CHECK((*r.end_stream)["error"]["code"] == "invalid_argument");
  CHECK((*r.end_stream)["error"]["message"] == "cwd '/nonexistent-dir' does not exist");
  CHECK(r.completed);

  auto nf = c.stream("Connect", {{"process", {{"pid", 999999}}}});
  REQUIRE(nf.end_stream);
  CHECK((*nf.end_stream)["error"]["code"] == "not_found");

  http::Headers auth;
  auth.set("Authorization", "Basic " + base64_encode("nosuchuser:"));
  auto ua = c.stream("Start", start_body("true"), auth);
  REQUIRE(ua.end_stream);
  CHECK((*ua.end_stream)["error"]["code"] == "unauthenticated");
}

TEST_CASE("agent: SendInput and CloseStdin reach cat", "[agent][integration]") {
  AgentProcess agent;
  Client c(agent);
  Json b = {{"process", {{"cmd", "cat"}}}};  // stdin absent -> pipe; cmd found in PATH
  int pending = 0;
  auto r = c.stream("Start", b, {}, [&](const Json& m) {
    if (!m["event"].contains("start")) return;
    auto pid = m["event"]["start"]["pid"];
    ++pending;
    c.rpc_async("SendInput",
                {{"process", {{"pid", pid}}}, {"input", {{"stdin", base64_encode("hello\n")}}}},
                [&, pid](Result<http::Response> resp) {
                  REQUIRE(resp);
                  CHECK(resp->status == 200);
                  CHECK(resp->body == "{}");
                  c.rpc_async("CloseStdin", {{"process", {{"pid", pid}}}},
                              [&](Result<http::Response> r2) {
                                REQUIRE(r2);
                                CHECK(r2->status == 200);
                                --pending;
                              });
                });
  });
  CHECK(pending == 0);
  CHECK(r.stdout_text == "hello\n");
  REQUIRE(r.end_event);
  CHECK((*r.end_event)["exitCode"] == 0);
  CHECK(r.completed);

  // stdin:false gets /dev/null and SendInput is an internal error.
  auto r2 = c.stream("Start", start_body("cat; echo done"));
  CHECK(r2.stdout_text == "done\n");
}

TEST_CASE("agent: SendSignal kills the whole process tree", "[agent][integration]") {
  AgentProcess agent;
  Client c(agent);
  std::set<pid_t> tree;
  int64_t pid = 0;
  bool listed = false;
  auto r = c.stream("Start", start_body("sleep 100 & setsid sleep 100 & echo ready; wait"), {},
                    [&](const Json& m) {
    const Json& ev = m["event"];
    if (ev.contains("start")) pid = ev["start"]["pid"].get<int64_t>();
    if (!ev.contains("data") || !tree.empty()) return;
    for (int i = 0; i < 100 && tree.size() < 3; ++i) {
      tree = find_process_tree(static_cast<pid_t>(pid));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    c.rpc_async("List", Json::object(), [&](Result<http::Response> list) {
      REQUIRE(list);
      auto procs = parse_json(list->body).value()["processes"];
      for (const auto& p : procs)
        if (p["pid"] == pid) {
          listed = true;
          CHECK(p["config"]["cmd"] == "/bin/sh");
          CHECK(p["config"]["args"].size() == 2);
        }
      c.rpc_async("SendSignal", {{"process", {{"pid", pid}}}, {"signal", "SIGNAL_SIGKILL"}},
                  [&](Result<http::Response> kill) {
                    REQUIRE(kill);
                    CHECK(kill->status == 200);
                  });
    });
  });
  CHECK(listed);
  CHECK(tree.size() >= 3);
  REQUIRE(r.end_event);
  CHECK((*r.end_event)["exitCode"] == -1);
  CHECK((*r.end_event)["exited"] == false);
  CHECK((*r.end_event)["status"] == "signal: killed");
  CHECK((*r.end_event)["error"] == "signal: killed");
  CHECK(*r.end_stream == Json::object());
  for (pid_t p : tree) {
    bool gone = false;
    for (int i = 0; i < 200 && !gone; ++i) {
      gone = process_gone(p);
      if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(gone);
  }
  // The pid left the table.
  auto again = c.rpc("SendSignal", {{"process", {{"pid", pid}}}, {"signal", "SIGNAL_SIGKILL"}});
  CHECK(again.status == 404);
}

TEST_CASE("agent: Connect-Timeout-Ms bounds the process lifetime", "[agent][integration]") {
  AgentProcess agent;
  Client c(agent);
  http::Headers h;
  h.set("Connect-Timeout-Ms", "500");
  auto t0 = std::chrono::steady_clock::now();
  auto r = c.stream("Start", start_body("sleep 10"), h);
  auto elapsed = std::chrono::steady_clock::now() - t0;
  CHECK(elapsed < std::chrono::seconds(5));
  CHECK(start_pid(r) > 0);
  REQUIRE(r.end_event);
  CHECK((*r.end_event)["exitCode"] == -1);
  CHECK((*r.end_event)["status"] == "signal: killed");
  REQUIRE(r.end_stream);
  CHECK((*r.end_stream)["error"]["code"] == "deadline_exceeded");
  CHECK(r.completed);
}

TEST_CASE("agent: keepalives and Connect re-attach", "[agent][integration]") {
  AgentProcess agent;
  Client c(agent);
  http::Headers h;
  h.set("Keepalive-Ping-Interval", "1");
  std::shared_ptr<StreamResult> attached;
  bool attached_done = false;
  auto r = c.stream("Start", start_body("sleep 1.5; echo late; sleep 1.2; echo later"), h,
                    [&](const Json& m) {
    if (!m["event"].contains("start")) return;
    // Re-attach from a second stream while the first one is live.
    Json sel = {{"process", {{"pid", m["event"]["start"]["pid"]}}}};
    attached = c.stream_async("Connect", sel, {}, {}, [&] { attached_done = true; });
  });
  CHECK(r.keepalives >= 1);
  CHECK(r.messages[0]["event"].contains("start"));
  for (const auto& m : r.messages) {
    if (m["event"].contains("keepalive")) break;
    CHECK_FALSE(m["event"].contains("end"));
  }
  CHECK(r.stdout_text == "late\nlater\n");
  c.run_until([&] { return attached_done; }, 10);
  REQUIRE(attached_done);
  REQUIRE(attached);
  CHECK(attached->messages.at(0)["event"].contains("start"));
  CHECK(attached->stdout_text == "late\nlater\n");
  REQUIRE(attached->end_event);
  CHECK((*attached->end_event)["exitCode"] == 0);
  CHECK(*attached->end_stream == Json::object());
}

TEST_CASE("agent: files upload and download round-trip", "[agent][integration]") {
  AgentProcess agent;
  Client c(agent);
  const std::string boundary = "----formdata-undici-041234";
  std::string small = binary_data(1000);
  std::string big = binary_data(5 * 1024 * 1024 + 17);
  std::string target = agent.dir() + "/up/dir/big.bin";

  // Multipart with a path query parameter, sent chunked like the SDK does.
  {
    http::ClientRequest req;
    req.method = "POST";
    req.target = "/files?path=" + target;
    req.headers.set("Content-Type", "multipart/form-data; boundary=" + boundary);
    req.chunked_body = true;
    std::string body = multipart_body(boundary, {{target, big}});
    std::optional<Result<http::Response>> out;
    auto call_body = body;
    http::ResponseCallbacks cb;
    http::Response resp;
    bool done = false;
    cb.on_head = [&](const http::ResponseHead& hd) { resp.status = hd.status; };
    cb.on_data = [&](std::string_view d) { resp.body.append(d); };
    cb.on_end = [&](Result<void> r) {
      CHECK(r);
      done = true;
      c.loop().stop();
    };
    auto call = http::request(c.loop(), http::Endpoint::unix_socket(agent.sock()), req, cb);
    for (size_t i = 0; i < body.size(); i += 65536) call->write(std::string_view(body).substr(i, 65536));
    call->finish();
    c.run_until([&] { return done; });
    REQUIRE(resp.status == 200);
    auto j = parse_json(resp.body).value();
    REQUIRE(j.is_array());
    REQUIRE(j.size() == 1);
    CHECK(j[0]["path"] == target);
    CHECK(j[0]["name"] == "big.bin");
    CHECK(j[0]["type"] == "file");
  }
  {
    http::ClientRequest req;
    req.target = "/files?path=" + target;
    auto resp = c.fetch(req);
    CHECK(resp.status == 200);
    CHECK(resp.headers.get("Content-Type").value_or("") == "application/octet-stream");
    CHECK(resp.headers.get("Content-Length").value_or("") == std::to_string(big.size()));
    CHECK(resp.body.size() == big.size());
    CHECK(resp.body == big);
  }
  // Several files without a path parameter; relative names resolve against home.
  {
    http::ClientRequest req;
    req.method = "POST";
    req.target = "/files";
    req.headers.set("Content-Type", "multipart/form-data; boundary=" + boundary);
    req.body = multipart_body(boundary, {{"rel/a.bin", small}, {"~/b.txt", "bee"}, {"empty", ""}});
    auto resp = c.fetch(req);
    REQUIRE(resp.status == 200);
    auto j = parse_json(resp.body).value();
    REQUIRE(j.size() == 3);
    CHECK(j[0]["path"] == agent.home() + "/rel/a.bin");
    CHECK(j[1]["path"] == agent.home() + "/b.txt");
    http::ClientRequest get;
    get.target = "/files?path=rel/a.bin";
    CHECK(c.fetch(get).body == small);
    get.target = "/files?path=empty";
    auto e = c.fetch(get);
    CHECK(e.status == 200);
    CHECK(e.headers.get("Content-Length").value_or("") == "0");
    CHECK(e.body.empty());
  }
  // Raw and gzip bodies.
  {
    http::ClientRequest req;
    req.method = "POST";
    req.target = "/files?path=%2Ftmp%2F..%2F" + agent.dir().substr(1) + "%2Fraw.bin";
    req.headers.set("Content-Type", "application/octet-stream");
    req.body = small;
    auto resp = c.fetch(req);
    REQUIRE(resp.status == 200);
    CHECK(parse_json(resp.body).value()[0]["path"] == agent.dir() + "/raw.bin");

    http::ClientRequest gz;
    gz.method = "POST";
    gz.target = "/files?path=" + agent.dir() + "/gz.bin";
    gz.headers.set("Content-Type", "application/octet-stream");
    gz.headers.set("Content-Encoding", "gzip");
    gz.body = gzip(big);
    auto gr = c.fetch(gz);
    REQUIRE(gr.status == 200);
    http::ClientRequest get;
    get.target = "/files?path=" + agent.dir() + "/gz.bin";
    CHECK(c.fetch(get).body == big);

    http::ClientRequest nopath;
    nopath.method = "POST";
    nopath.target = "/files";
    nopath.headers.set("Content-Type", "application/octet-stream");
    nopath.body = "x";
    auto np = c.fetch(nopath);
    CHECK(np.status == 400);
    CHECK(parse_json(np.body).value()["message"] ==
          "path query parameter is required for raw body upload");

    http::ClientRequest ontodir;
    ontodir.method = "POST";
    ontodir.target = "/files?path=" + agent.dir();
    ontodir.headers.set("Content-Type", "application/octet-stream");
    ontodir.body = "x";
    CHECK(c.fetch(ontodir).status == 400);
  }
  // Errors.
  {
    http::ClientRequest get;
    get.target = "/files?path=/nonexistent/file";
    auto nf = c.fetch(get);
    CHECK(nf.status == 404);
    auto j = parse_json(nf.body).value();
    CHECK(j["code"] == 404);
    CHECK(j["message"].is_string());
    get.target = "/files?path=" + agent.dir();
    CHECK(c.fetch(get).status == 400);
    get.target = "/files?path=x&username=nosuchuser";
    CHECK(c.fetch(get).status == 401);
  }
}

TEST_CASE("agent: /init sets env vars and the access token", "[agent][integration]") {
  AgentProcess agent;
  Client c(agent);
  http::ClientRequest init;
  init.method = "POST";
  init.target = "/init";
  init.headers.set("Content-Type", "application/json");
  init.body = R"({"envVars":{"FOO":"from-init","BAR":"b"},"accessToken":"secret"})";
  CHECK(c.fetch(init).status == 204);

  http::ClientRequest envs;
  envs.target = "/envs";
  CHECK(c.fetch(envs).status == 401);
  envs.headers.set("X-Access-Token", "secret");
  auto e = c.fetch(envs);
  CHECK(e.status == 200);
  CHECK(parse_json(e.body).value()["FOO"] == "from-init");

  http::ClientRequest health;
  health.target = "/health";
  CHECK(c.fetch(health).status == 204);

  auto denied = c.stream("Start", start_body("echo $FOO"));
  REQUIRE(denied.end_stream);
  CHECK((*denied.end_stream)["error"]["code"] == "unauthenticated");
  auto unary = c.rpc("List", Json::object());
  CHECK(unary.status == 401);
  CHECK(parse_json(unary.body).value()["code"] == "unauthenticated");

  http::Headers h;
  h.set("X-Access-Token", "secret");
  Json b = start_body("echo $FOO $BAR");
  b["process"]["envs"] = {{"BAR", "req"}};
  auto ok = c.stream("Start", b, h);
  CHECK(ok.stdout_text == "from-init req\n");

  // Re-init needs the current token.
  CHECK(c.fetch(init).status == 401);
  init.headers.set("X-Access-Token", "secret");
  init.body = R"({"accessToken":""})";
  CHECK(c.fetch(init).status == 204);
  CHECK(c.rpc("List", Json::object()).status == 200);
}
