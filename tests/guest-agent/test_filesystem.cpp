// SPDX-License-Identifier: Apache-2.0
// filesystem.Filesystem unary calls and X-Metadata uploads on the real agent.
#include <catch.hpp>

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "agent_harness.hpp"

using namespace nexus;
using namespace agent_test;

namespace {

void write_file(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

std::string self_name() {
  struct passwd* pw = ::getpwuid(::getuid());
  return pw ? pw->pw_name : std::to_string(::getuid());
}

std::vector<std::string> names_of(const Json& entries, const std::string& base) {
  std::vector<std::string> out;
  for (const auto& e : entries) {
    std::string p = e["path"].get<std::string>();
    CHECK(p.compare(0, base.size() + 1, base + "/") == 0);
    out.push_back(p.substr(base.size() + 1));
  }
  return out;
}

Json body_of(const http::Response& r) { return parse_json(r.body).value(); }

// A tree: d/{a.txt, broken -> nope, dirlink -> sub, link -> a.txt, sub/{deep.txt, deeper/x}}
std::string make_tree(const AgentProcess& agent) {
  std::string d = agent.dir() + "/d";
  fs::create_directories(d + "/sub/deeper");
  write_file(d + "/a.txt", "hello");
  write_file(d + "/sub/deep.txt", "deep");
  write_file(d + "/sub/deeper/x", "");
  fs::create_symlink("a.txt", d + "/link");
  fs::create_symlink("nope", d + "/broken");
  fs::create_symlink("sub", d + "/dirlink");
  ::chmod((d + "/a.txt").c_str(), 0640);
  ::chmod(d.c_str(), 0755);
  struct timespec times[2] = {{1700000000, 123456789}, {1700000000, 123456789}};
  REQUIRE(::utimensat(AT_FDCWD, (d + "/a.txt").c_str(), times, 0) == 0);
  struct timespec half[2] = {{1700000000, 500000000}, {1700000000, 500000000}};
  REQUIRE(::utimensat(AT_FDCWD, (d + "/sub/deep.txt").c_str(), half, 0) == 0);
  return d;
}

}  // namespace

TEST_CASE("filesystem: Stat reports EntryInfo fields", "[agent][filesystem]") {
  AgentProcess agent;
  Client c(agent);
  std::string d = make_tree(agent);

  auto r = c.fs_rpc("Stat", {{"path", d + "/a.txt"}});
  REQUIRE(r.status == 200);
  CHECK(r.headers.get("Content-Type").value_or("") == "application/json");
  Json e = body_of(r)["entry"];
  CHECK(e["name"] == "a.txt");
  CHECK(e["type"] == "FILE_TYPE_FILE");
  CHECK(e["path"] == d + "/a.txt");
  CHECK(e["size"] == "5");
  CHECK(e["mode"] == 0640);
  CHECK(e["permissions"] == "-rw-r-----");
  CHECK(e["owner"] == self_name());
  CHECK(e["group"].is_string());
  CHECK(e["modifiedTime"] == "2023-11-14T22:13:20.123456789Z");
  CHECK_FALSE(e.contains("symlinkTarget"));
  CHECK_FALSE(e.contains("metadata"));

  e = body_of(c.fs_rpc("Stat", {{"path", d + "/sub/deep.txt"}}))["entry"];
  CHECK(e["modifiedTime"] == "2023-11-14T22:13:20.500Z");

  e = body_of(c.fs_rpc("Stat", {{"path", d}}))["entry"];
  CHECK(e["type"] == "FILE_TYPE_DIRECTORY");
  CHECK(e["permissions"] == "drwxr-xr-x");
  CHECK(e["mode"] == 0755);

  // A symlink reports its target's type and mode, with the resolved target.
  e = body_of(c.fs_rpc("Stat", {{"path", d + "/link"}}))["entry"];
  CHECK(e["name"] == "link");
  CHECK(e["type"] == "FILE_TYPE_FILE");
  CHECK(e["mode"] == 0640);
  CHECK(e["permissions"] == "Lrwxrwxrwx");
  CHECK(e["symlinkTarget"] == fs::canonical(d + "/a.txt").string());
  CHECK(e["size"] == "5");  // lstat size: the length of "a.txt"

  e = body_of(c.fs_rpc("Stat", {{"path", d + "/broken"}}))["entry"];
  CHECK(e["type"] == "FILE_TYPE_UNSPECIFIED");
  CHECK(e["symlinkTarget"] == d + "/nope");

  e = body_of(c.fs_rpc("Stat", {{"path", "/tmp"}}))["entry"];
  CHECK(e["permissions"].get<std::string>().substr(0, 2) == "dt");  // sticky

  // "~" and relative paths resolve against the user's home.
  write_file(agent.home() + "/h.txt", "x");
  CHECK(body_of(c.fs_rpc("Stat", {{"path", "h.txt"}}))["entry"]["path"] == agent.home() + "/h.txt");
  CHECK(body_of(c.fs_rpc("Stat", {{"path", "~/h.txt"}}))["entry"]["path"] == agent.home() + "/h.txt");

  auto missing = c.fs_rpc("Stat", {{"path", d + "/nope"}});
  CHECK(missing.status == 404);
  CHECK(body_of(missing)["code"] == "not_found");
}

TEST_CASE("filesystem: ListDir walks in lexical order up to depth", "[agent][filesystem]") {
  AgentProcess agent;
  Client c(agent);
  std::string d = make_tree(agent);

  auto one = body_of(c.fs_rpc("ListDir", {{"path", d}, {"depth", 1}}))["entries"];
  CHECK(names_of(one, d) == std::vector<std::string>{"a.txt", "broken", "dirlink", "link", "sub"});
  for (const auto& e : one)
    if (e["name"] == "dirlink") {
      CHECK(e["type"] == "FILE_TYPE_DIRECTORY");
      CHECK(e["symlinkTarget"] == fs::canonical(d + "/sub").string());
    }

  auto two = body_of(c.fs_rpc("ListDir", {{"path", d}, {"depth", 2}}))["entries"];
  CHECK(names_of(two, d) == std::vector<std::string>{"a.txt", "broken", "dirlink", "link", "sub",
                                                     "sub/deep.txt", "sub/deeper"});
  auto all = body_of(c.fs_rpc("ListDir", {{"path", d}, {"depth", "10"}}))["entries"];
  CHECK(names_of(all, d).back() == "sub/deeper/x");
  CHECK(all.size() == 8);

  // depth 0 means 1 (as envd); a symlink to a directory is listed through the link.
  CHECK(body_of(c.fs_rpc("ListDir", {{"path", d}}))["entries"].size() == 5);
  auto via_link = body_of(c.fs_rpc("ListDir", {{"path", d + "/dirlink"}, {"depth", 1}}))["entries"];
  CHECK(names_of(via_link, d + "/dirlink") == std::vector<std::string>{"deep.txt", "deeper"});

  fs::create_directories(d + "/empty");
  auto empty = body_of(c.fs_rpc("ListDir", {{"path", d + "/empty"}, {"depth", 1}}));
  CHECK(empty["entries"] == Json::array());

  auto file = c.fs_rpc("ListDir", {{"path", d + "/a.txt"}, {"depth", 1}});
  CHECK(file.status == 400);
  CHECK(body_of(file)["code"] == "invalid_argument");
  auto missing = c.fs_rpc("ListDir", {{"path", d + "/nope"}, {"depth", 1}});
  CHECK(missing.status == 404);
  CHECK(body_of(missing)["code"] == "not_found");
}

TEST_CASE("filesystem: MakeDir, Move and Remove", "[agent][filesystem]") {
  AgentProcess agent;
  Client c(agent);
  std::string d = make_tree(agent);

  auto made = c.fs_rpc("MakeDir", {{"path", d + "/m/a/b"}});
  REQUIRE(made.status == 200);
  CHECK(body_of(made)["entry"]["type"] == "FILE_TYPE_DIRECTORY");
  CHECK(body_of(made)["entry"]["path"] == d + "/m/a/b");
  CHECK(body_of(made)["entry"]["name"] == "b");
  CHECK(fs::is_directory(d + "/m/a/b"));
  auto again = c.fs_rpc("MakeDir", {{"path", d + "/m/a/b"}});
  CHECK(again.status == 409);
  CHECK(body_of(again)["code"] == "already_exists");
  auto on_file = c.fs_rpc("MakeDir", {{"path", d + "/a.txt"}});
  CHECK(on_file.status == 400);
  CHECK(body_of(on_file)["code"] == "invalid_argument");
  auto through_file = c.fs_rpc("MakeDir", {{"path", d + "/a.txt/x"}});
  CHECK(body_of(through_file)["code"] == "invalid_argument");

  auto moved = c.fs_rpc("Move", {{"source", d + "/a.txt"}, {"destination", d + "/new/deep/a2.txt"}});
  REQUIRE(moved.status == 200);
  Json e = body_of(moved)["entry"];
  CHECK(e["path"] == d + "/new/deep/a2.txt");
  CHECK(e["name"] == "a2.txt");
  CHECK(e["type"] == "FILE_TYPE_FILE");
  CHECK(e["size"] == "5");
  CHECK_FALSE(fs::exists(d + "/a.txt"));
  auto gone = c.fs_rpc("Move", {{"source", d + "/a.txt"}, {"destination", d + "/b.txt"}});
  CHECK(gone.status == 404);
  CHECK(body_of(gone)["code"] == "not_found");
  CHECK_FALSE(fs::exists(d + "/b.txt"));

  auto removed = c.fs_rpc("Remove", {{"path", d + "/sub"}});
  CHECK(removed.status == 200);
  CHECK(removed.body == "{}");
  CHECK_FALSE(fs::exists(d + "/sub"));
  std::error_code ec;
  CHECK_FALSE(fs::exists(d + "/dirlink", ec));  // now dangling
  CHECK(fs::is_symlink(d + "/dirlink"));
  // Removing a symlink to a directory removes the link only.
  fs::create_directories(d + "/keep/inner");
  fs::create_symlink("keep", d + "/keeplink");
  CHECK(c.fs_rpc("Remove", {{"path", d + "/keeplink"}}).status == 200);
  CHECK(fs::is_directory(d + "/keep/inner"));
  CHECK(c.fs_rpc("Remove", {{"path", d + "/does-not-exist"}}).status == 200);
  CHECK(c.fs_rpc("Stat", {{"path", d + "/sub"}}).status == 404);
}

TEST_CASE("filesystem: bad requests never crash the agent", "[agent][filesystem]") {
  AgentProcess agent;
  Client c(agent);
  for (const Json& bad : {Json{{"path", 5}}, Json{{"path", Json::array()}}}) {
    auto r = c.fs_rpc("Stat", bad);
    CHECK(r.status == 400);
    CHECK(body_of(r)["code"] == "invalid_argument");
  }
  for (const Json& depth : {Json("abc"), Json(-1), Json(1.5), Json(Json::object())}) {
    auto r = c.fs_rpc("ListDir", {{"path", "/"}, {"depth", depth}});
    CHECK(r.status == 400);
  }
  CHECK(c.fs_rpc("Move", {{"source", true}}).status == 400);
  CHECK(c.fs_rpc("Stat", Json::array({1})).status == 400);
  http::ClientRequest garbage;
  garbage.method = "POST";
  garbage.target = "/filesystem.Filesystem/MakeDir";
  garbage.headers.set("Content-Type", "application/json");
  garbage.body = "{\"path\":";
  CHECK(c.fetch(garbage).status == 400);
  std::string nul_path = std::string("/tmp/a") + '\0' + "b";
  CHECK(body_of(c.fs_rpc("Stat", {{"path", nul_path}}))["code"] == "invalid_argument");

  http::Headers auth;
  auth.set("Authorization", "Basic " + base64_encode("nosuchuser:"));
  auto ua = c.fs_rpc("Stat", {{"path", "/"}}, auth);
  CHECK(ua.status == 401);
  CHECK(body_of(ua)["code"] == "unauthenticated");
  auth.set("Authorization", "Basic " + base64_encode("root:"));
  CHECK(c.fs_rpc("Stat", {{"path", "/"}}, auth).status == 200);

  auto unknown = c.fs_rpc("Bogus", Json::object());
  CHECK(unknown.status == 404);
  CHECK(body_of(unknown)["code"] == "unimplemented");
  CHECK(c.rpc("List", Json::object()).status == 200);  // still alive
}

TEST_CASE("filesystem: X-Metadata headers become user.e2b xattrs", "[agent][filesystem]") {
  AgentProcess agent;
  Client c(agent);
  std::string path = agent.dir() + "/meta.txt";
  auto upload = [&](const std::vector<std::pair<std::string, std::string>>& headers) {
    http::ClientRequest req;
    req.method = "POST";
    req.target = "/files?path=" + path;
    req.headers.set("Content-Type", "application/octet-stream");
    for (const auto& [k, v] : headers) req.headers.set(k, v);
    req.body = "data";
    return c.fetch(req);
  };
  auto r = upload({{"X-Metadata-Owner", "Alice Smith"}, {"x-metadata-Stage", "v=1"}});
  REQUIRE(r.status == 200);
  CHECK(body_of(r)[0]["metadata"] == Json{{"owner", "Alice Smith"}, {"stage", "v=1"}});
  auto e = body_of(c.fs_rpc("Stat", {{"path", path}}))["entry"];
  CHECK(e["metadata"] == Json{{"owner", "Alice Smith"}, {"stage", "v=1"}});

  // New metadata replaces the old set.
  r = upload({{"X-Metadata-Other", "x"}});
  CHECK(body_of(r)[0]["metadata"] == Json{{"other", "x"}});
  CHECK(body_of(c.fs_rpc("Stat", {{"path", path}}))["entry"]["metadata"] == Json{{"other", "x"}});
  // An overwrite without metadata keeps what the file had.
  r = upload({});
  CHECK(body_of(c.fs_rpc("Stat", {{"path", path}}))["entry"]["metadata"] == Json{{"other", "x"}});
  // Listing shows it too.
  auto list = body_of(c.fs_rpc("ListDir", {{"path", agent.dir()}, {"depth", 1}}))["entries"];
  bool found = false;
  for (const auto& entry : list)
    if (entry["name"] == "meta.txt") found = entry["metadata"] == Json{{"other", "x"}};
  CHECK(found);

  CHECK(upload({{"X-Metadata-Big", std::string(5000, 'v')}}).status == 400);
}
