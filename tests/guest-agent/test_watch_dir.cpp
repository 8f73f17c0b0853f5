// SPDX-License-Identifier: Apache-2.0
// filesystem.Filesystem/WatchDir on the real agent: events, recursion, keepalives, cleanup.
#include <catch.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "agent_harness.hpp"
#include "guest-agent/inotify_watcher.hpp"

#include <sys/inotify.h>

using namespace nexus;
using namespace agent_test;

namespace {

using Event = std::pair<std::string, std::string>;  // name, type

void write_file(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

http::Headers timeout_headers(int ms, int keepalive_s = 0) {
  http::Headers h;
  h.set("Connect-Timeout-Ms", std::to_string(ms));
  if (keepalive_s) h.set("Keepalive-Ping-Interval", std::to_string(keepalive_s));
  return h;
}

std::vector<Event> events_of(const StreamResult& r) {
  std::vector<Event> out;
  for (const auto& m : r.messages)
    if (m.contains("filesystem"))
      out.emplace_back(m["filesystem"]["name"].get<std::string>(),
                       m["filesystem"]["type"].get<std::string>());
  return out;
}

bool has(const std::vector<Event>& evs, const std::string& name, const std::string& type) {
  return std::find(evs.begin(), evs.end(), Event{name, "EVENT_TYPE_" + type}) != evs.end();
}

size_t index_of(const std::vector<Event>& evs, const std::string& name, const std::string& type) {
  return static_cast<size_t>(
      std::find(evs.begin(), evs.end(), Event{name, "EVENT_TYPE_" + type}) - evs.begin());
}

// inotify instances the agent holds.
int inotify_fds(pid_t pid) {
  int n = 0;
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  for (const auto& e : fs::directory_iterator(dir)) {
    std::error_code ec;
    auto target = fs::read_symlink(e.path(), ec);
    if (!ec && target.string() == "anon_inode:inotify") ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("watch: event types in envd order", "[agent][watch]") {
  using agent::event_type_names;
  CHECK(event_type_names(IN_CREATE) == std::vector<const char*>{"EVENT_TYPE_CREATE"});
  auto all = event_type_names(IN_CREATE | IN_MOVED_FROM | IN_ATTRIB | IN_MODIFY | IN_DELETE);
  std::vector<std::string> names(all.begin(), all.end());
  CHECK(names == std::vector<std::string>{"EVENT_TYPE_CREATE", "EVENT_TYPE_RENAME", "EVENT_TYPE_CHMOD",
                                          "EVENT_TYPE_WRITE", "EVENT_TYPE_REMOVE"});
  CHECK(event_type_names(IN_MOVED_TO)[0] == std::string("EVENT_TYPE_CREATE"));
  CHECK(event_type_names(IN_DELETE_SELF)[0] == std::string("EVENT_TYPE_REMOVE"));
  CHECK(event_type_names(IN_ACCESS).empty());
}

TEST_CASE("watch: create, write, rename, chmod and remove", "[agent][watch]") {
  AgentProcess agent;
  Client c(agent);
  std::string d = agent.dir() + "/w";
  fs::create_directories(d + "/pre/inner");
  bool started = false;
  auto r = c.stream("filesystem.Filesystem/WatchDir", {{"path", d}, {"recursive", true}, {"includeEntry", true}},
                    timeout_headers(1500), [&](const Json& m) {
    if (!m.contains("start")) return;
    started = true;
    write_file(d + "/new.txt", "one");
    { std::ofstream(d + "/new.txt", std::ios::app) << "two"; }
    fs::rename(d + "/new.txt", d + "/renamed.txt");
    ::chmod((d + "/renamed.txt").c_str(), 0600);
    fs::remove(d + "/renamed.txt");
    write_file(d + "/pre/inner/old-subdir.txt", "x");  // watched since the start
    fs::create_directories(d + "/sub/deeper");
    write_file(d + "/sub/deeper/deep.txt", "deep");
    write_file(d + "/keep.txt", "k");
  });
  CHECK(started);
  CHECK(r.status == 200);
  CHECK(r.content_type == "application/connect+json");
  REQUIRE_FALSE(r.messages.empty());
  CHECK(r.messages[0] == Json{{"start", Json::object()}});
  REQUIRE(r.end_stream);
  CHECK(*r.end_stream == Json::object());  // Connect-Timeout-Ms ends the watch normally
  CHECK(r.completed);

  auto evs = events_of(r);
  std::string all;
  for (const auto& [n, t] : evs) all += n + " " + t + "\n";
  INFO(all);
  CHECK(has(evs, "new.txt", "CREATE"));
  CHECK(has(evs, "new.txt", "WRITE"));
  CHECK(has(evs, "new.txt", "RENAME"));
  CHECK(has(evs, "renamed.txt", "CREATE"));
  CHECK(has(evs, "renamed.txt", "CHMOD"));
  CHECK(has(evs, "renamed.txt", "REMOVE"));
  CHECK(index_of(evs, "new.txt", "CREATE") < index_of(evs, "new.txt", "RENAME"));
  CHECK(index_of(evs, "renamed.txt", "CHMOD") < index_of(evs, "renamed.txt", "REMOVE"));
  CHECK(has(evs, "pre/inner/old-subdir.txt", "CREATE"));
  CHECK(has(evs, "sub", "CREATE"));
  CHECK(has(evs, "sub/deeper", "CREATE"));
  CHECK(has(evs, "sub/deeper/deep.txt", "CREATE"));
  CHECK(has(evs, "keep.txt", "CREATE"));

  for (const auto& m : r.messages) {
    if (!m.contains("filesystem")) continue;
    const Json& ev = m["filesystem"];
    std::string type = ev["type"];
    if (type == "EVENT_TYPE_REMOVE" || type == "EVENT_TYPE_RENAME") CHECK_FALSE(ev.contains("entry"));
    if (ev["name"] == "keep.txt" && type == "EVENT_TYPE_CREATE") {
      REQUIRE(ev.contains("entry"));
      CHECK(ev["entry"]["name"] == "keep.txt");
      CHECK(ev["entry"]["path"] == d + "/keep.txt");
      CHECK(ev["entry"]["type"] == "FILE_TYPE_FILE");
    }
    if (ev["name"] == "sub" && type == "EVENT_TYPE_CREATE") {
      REQUIRE(ev.contains("entry"));
      CHECK(ev["entry"]["type"] == "FILE_TYPE_DIRECTORY");
    }
  }
}

TEST_CASE("watch: non-recursive watches ignore subdirectories", "[agent][watch]") {
  AgentProcess agent;
  Client c(agent);
  std::string d = agent.dir() + "/w";
  fs::create_directories(d + "/sub");
  auto r = c.stream("filesystem.Filesystem/WatchDir", {{"path", d}}, timeout_headers(800),
                    [&](const Json& m) {
    if (!m.contains("start")) return;
    write_file(d + "/sub/inside.txt", "x");
    write_file(d + "/top.txt", "x");
  });
  auto evs = events_of(r);
  CHECK(has(evs, "top.txt", "CREATE"));
  for (const auto& [n, t] : evs) CHECK(n.find("inside") == std::string::npos);
  for (const auto& m : r.messages)
    if (m.contains("filesystem")) CHECK_FALSE(m["filesystem"].contains("entry"));
}

TEST_CASE("watch: keepalives, errors and cleanup on disconnect", "[agent][watch]") {
  AgentProcess agent;
  Client c(agent);
  std::string d = agent.dir() + "/w";
  fs::create_directories(d);

  auto k = c.stream("filesystem.Filesystem/WatchDir", {{"path", d}}, timeout_headers(2600, 1));
  REQUIRE(k.messages.size() >= 3);
  CHECK(k.messages[0].contains("start"));
  for (size_t i = 1; i < k.messages.size(); ++i) CHECK(k.messages[i] == Json{{"keepalive", Json::object()}});

  auto missing = c.stream("filesystem.Filesystem/WatchDir", {{"path", d + "/nope"}});
  CHECK(missing.status == 200);
  CHECK(missing.messages.empty());
  REQUIRE(missing.end_stream);
  CHECK((*missing.end_stream)["error"]["code"] == "not_found");
  write_file(d + "/file", "x");
  auto file = c.stream("filesystem.Filesystem/WatchDir", {{"path", d + "/file"}});
  REQUIRE(file.end_stream);
  CHECK((*file.end_stream)["error"]["code"] == "invalid_argument");
  auto bad = c.stream("filesystem.Filesystem/WatchDir", {{"path", d}, {"recursive", "yes"}});
  REQUIRE(bad.end_stream);
  CHECK((*bad.end_stream)["error"]["code"] == "invalid_argument");

  // A client that goes away takes its inotify instance with it.
  CHECK(inotify_fds(agent.pid()) == 0);
  bool started = false, done = false;
  c.stream_async("filesystem.Filesystem/WatchDir", {{"path", d}, {"recursive", true}}, {},
                 [&](const Json& m) {
                   if (m.contains("start")) started = true;
                   c.loop().stop();
                 },
                 [&] {
                   done = true;
                   c.loop().stop();
                 });
  auto call = c.last_call();
  c.run_until([&] { return started; }, 10);
  REQUIRE(started);
  CHECK(inotify_fds(agent.pid()) == 1);
  call->cancel();
  c.run_until([&] { return done; }, 10);
  for (int i = 0; i < 100 && inotify_fds(agent.pid()) != 0; ++i) {
    uv::Timer t(c.loop());
    bool fired = false;
    t.start(20, 0, [&] {
      fired = true;
      c.loop().stop();
    });
    c.run_until([&] { return fired; }, 5);
  }
  CHECK(inotify_fds(agent.pid()) == 0);
  CHECK(c.rpc("List", Json::object()).status == 200);
}
