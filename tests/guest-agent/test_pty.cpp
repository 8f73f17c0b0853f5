// SPDX-License-Identifier: Apache-2.0
// PTY processes on the real agent: an interactive bash, resize, re-attach, error codes.
#include <catch.hpp>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "agent_harness.hpp"

using namespace nexus;
using namespace agent_test;

namespace {

Json pty_start(const std::string& cmd, std::vector<std::string> args, Json size) {
  return {{"process", {{"cmd", cmd}, {"args", std::move(args)}, {"envs", {{"TERM", "xterm"}, {"PS1", "$ "}}}}},
          {"pty", {{"size", std::move(size)}}}};
}

Json pid_sel(int64_t pid) { return {{"process", {{"pid", pid}}}}; }

std::string pty_text(const Json& m) {
  const Json& ev = m["event"];
  if (!ev.contains("data") || !ev["data"].contains("pty")) return {};
  return base64_decode(ev["data"]["pty"].get<std::string>()).value();
}

// One scripted step: when `marker` shows up in the output, run `action`.
struct Step {
  std::string marker;
  std::function<void()> action;
};

}  // namespace

TEST_CASE("pty: interactive bash echoes input, resizes and exits", "[agent][pty]") {
  AgentProcess agent;
  Client c(agent);
  int64_t pid = 0;
  std::string out;
  size_t max_chunk = 0;
  int pending = 0;
  bool stdout_seen = false;
  std::shared_ptr<StreamResult> attached;
  std::string attached_out;
  bool attached_done = false;

  auto input = [&](const std::string& text) {
    ++pending;
    c.rpc_async("SendInput", {{"process", {{"pid", pid}}}, {"input", {{"pty", base64_encode(text)}}}},
                [&](Result<http::Response> r) {
                  REQUIRE(r);
                  CHECK(r->status == 200);
                  CHECK(r->body == "{}");
                  --pending;
                  c.loop().stop();
                });
  };
  auto expect_code = [&](const std::string& method, const Json& body, int status,
                         const std::string& code) {
    ++pending;
    c.rpc_async(method, body, [&, status, code, method](Result<http::Response> r) {
      REQUIRE(r);
      INFO(method << " " << r->body);
      CHECK(r->status == status);
      CHECK(parse_json(r->body).value()["code"] == code);
      --pending;
      c.loop().stop();
    });
  };

  std::vector<Step> steps = {
      {"hello-pty",
       [&] {
         ++pending;
         c.rpc_async("Update", {{"process", {{"pid", pid}}}, {"pty", {{"size", {{"cols", 100}, {"rows", 30}}}}}},
                     [&](Result<http::Response> r) {
                       REQUIRE(r);
                       CHECK(r->status == 200);
                       CHECK(r->body == "{}");
                       --pending;
                       input("stty size\n");
                     });
       }},
      {"30 100",
       [&] { input("test -t 0 && test -t 1 && test -t 2 && exec 3</dev/tty && echo all-t''ty\n"); }},
      {"all-tty",
       [&] { input("head -c 100000 /dev/zero | tr '\\0' a; echo; echo big-do''ne\n"); }},
      {"big-done",
       [&] {
         // Wrong input kinds and bad sizes for a PTY process.
         expect_code("SendInput", {{"process", {{"pid", pid}}}, {"input", {{"stdin", base64_encode("x")}}}},
                     500, "internal");
         expect_code("CloseStdin", pid_sel(pid), 500, "internal");
         expect_code("Update", {{"process", {{"pid", pid}}}, {"pty", {{"size", {{"cols", 0}, {"rows", 30}}}}}},
                     400, "invalid_argument");
         expect_code("Update", {{"process", {{"pid", pid}}}, {"pty", {{"size", {{"cols", 80}, {"rows", 1000000}}}}}},
                     400, "invalid_argument");
         expect_code("Update", {{"process", {{"pid", pid}}}, {"pty", {{"size", {{"cols", "wide"}, {"rows", 3}}}}}},
                     400, "invalid_argument");
         expect_code("Update", {{"process", {{"pid", 999999}}}, {"pty", {{"size", {{"cols", 80}, {"rows", 24}}}}}},
                     404, "not_found");
         input("exit 7\n");
       }},
  };
  size_t next = 0;

  auto r = c.stream("Start", pty_start("/bin/bash", {"--norc", "--noprofile", "-i"}, {{"cols", 80}, {"rows", 24}}),
                    {}, [&](const Json& m) {
    const Json& ev = m["event"];
    if (ev.contains("start")) {
      pid = ev["start"]["pid"].get<int64_t>();
      attached = c.stream_async("Connect", pid_sel(pid), {}, [&](const Json& am) { attached_out += pty_text(am); },
                                [&] {
                                  attached_done = true;
                                  c.loop().stop();
                                });
      input("echo hel''lo-pty\n");
      return;
    }
    if (ev.contains("data")) {
      if (ev["data"].contains("stdout") || ev["data"].contains("stderr")) stdout_seen = true;
      std::string chunk = pty_text(m);
      max_chunk = std::max(max_chunk, chunk.size());
      out += chunk;
    }
    while (next < steps.size() && out.find(steps[next].marker) != std::string::npos) steps[next++].action();
  }, 60);
  c.run_until([&] { return attached_done && pending == 0; }, 10);

  INFO(out);
  CHECK(next == steps.size());
  CHECK(pending == 0);
  CHECK_FALSE(stdout_seen);
  CHECK(out.find("no job control") == std::string::npos);  // bash got a controlling tty
  CHECK(out.find("hello-pty\r\n") != std::string::npos);   // ONLCR: it is a terminal
  CHECK(std::count(out.begin(), out.end(), 'a') >= 100000);
  CHECK(max_chunk <= 16 * 1024);
  CHECK(max_chunk > 1024);
  REQUIRE(r.end_event);
  CHECK((*r.end_event)["exitCode"] == 7);
  CHECK((*r.end_event)["exited"] == true);
  REQUIRE(r.end_stream);
  CHECK(*r.end_stream == Json::object());
  CHECK(r.completed);

  // The re-attached stream saw what came after it subscribed, then the end.
  REQUIRE(attached);
  CHECK(attached->messages.at(0)["event"].contains("start"));
  CHECK(attached_out.find("30 100") != std::string::npos);
  REQUIRE(attached->end_event);
  CHECK((*attached->end_event)["exitCode"] == 7);

  // The pid has left the table.
  auto gone = c.rpc("Update", {{"process", {{"pid", pid}}}, {"pty", {{"size", {{"cols", 80}, {"rows", 24}}}}}});
  CHECK(gone.status == 404);
}

TEST_CASE("pty: a killed PTY process ends with signal status", "[agent][pty]") {
  AgentProcess agent;
  Client c(agent);
  int64_t pid = 0;
  bool killed = false;
  std::string out;
  // Sizes as decimal strings are valid protobuf JSON for uint32.
  auto r = c.stream("Start", pty_start("/bin/sh", {"-c", "echo rea''dy; sleep 100"}, {{"cols", "80"}, {"rows", "24"}}),
                    {}, [&](const Json& m) {
    if (m["event"].contains("start")) pid = m["event"]["start"]["pid"].get<int64_t>();
    out += pty_text(m);
    if (killed || out.find("ready") == std::string::npos) return;
    killed = true;
    c.rpc_async("SendSignal", {{"process", {{"pid", pid}}}, {"signal", "SIGNAL_SIGKILL"}},
                [](Result<http::Response> resp) {
                  REQUIRE(resp);
                  CHECK(resp->status == 200);
                });
  });
  CHECK(killed);
  REQUIRE(r.end_event);
  CHECK((*r.end_event)["exitCode"] == -1);
  CHECK((*r.end_event)["status"] == "signal: killed");
  CHECK(*r.end_stream == Json::object());
}

TEST_CASE("pty: PTY calls on a pipe process are internal errors", "[agent][pty]") {
  AgentProcess agent;
  Client c(agent);
  int pending = 0;
  auto expect = [&](const std::string& method, const Json& body, int status, std::string code,
                    std::function<void()> then = {}) {
    ++pending;
    c.rpc_async(method, body, [&, status, code, method, then](Result<http::Response> r) {
      REQUIRE(r);
      INFO(method << " " << r->body);
      CHECK(r->status == status);
      if (!code.empty()) CHECK(parse_json(r->body).value()["code"] == code);
      --pending;
      c.loop().stop();
      if (then) then();
    });
  };
  Json start = {{"process", {{"cmd", "cat"}}}, {"stdin", true}};
  auto r = c.stream("Start", start, {}, [&](const Json& m) {
    if (!m["event"].contains("start")) return;
    int64_t pid = m["event"]["start"]["pid"].get<int64_t>();
    Json size = {{"size", {{"cols", 80}, {"rows", 24}}}};
    expect("Update", {{"process", {{"pid", pid}}}, {"pty", size}}, 500, "internal");
    expect("SendInput", {{"process", {{"pid", pid}}}, {"input", {{"pty", base64_encode("x")}}}}, 500,
           "internal");
    // No pty field: nothing to update (envd answers {}).
    expect("Update", pid_sel(pid), 200, "", [&, pid] {
      expect("CloseStdin", pid_sel(pid), 200, "");
    });
  });
  c.run_until([&] { return pending == 0; }, 10);
  CHECK(pending == 0);
  REQUIRE(r.end_event);
  CHECK((*r.end_event)["exitCode"] == 0);
}

TEST_CASE("pty: invalid terminal sizes are invalid_argument", "[agent][pty]") {
  AgentProcess agent;
  Client c(agent);
  for (const Json& size : {Json{{"cols", 0}, {"rows", 24}}, Json{{"cols", 80}, {"rows", 0}},
                           Json{{"cols", 70000}, {"rows", 24}}, Json{{"cols", -1}, {"rows", 24}},
                           Json{{"cols", 1.5}, {"rows", 24}}, Json{{"cols", "x"}, {"rows", 24}},
                           Json{{"rows", 24}}}) {
    INFO(dump_json(size));
    auto r = c.stream("Start", pty_start("/bin/sh", {"-c", "true"}, size));
    REQUIRE(r.end_stream);
    CHECK((*r.end_stream)["error"]["code"] == "invalid_argument");
    CHECK(r.messages.empty());
  }
  Json no_size = pty_start("/bin/sh", {"-c", "true"}, {});
  no_size["pty"] = 5;
  auto r = c.stream("Start", no_size);
  REQUIRE(r.end_stream);
  CHECK((*r.end_stream)["error"]["code"] == "invalid_argument");
  CHECK(c.rpc("List", Json::object()).body == R"({"processes":[]})");
}
