// SPDX-License-Identifier: Apache-2.0
// `nexus e2b env`: the three variables the E2B SDKs need to use this host's nexusd.
// The API key is created on first use and remembered per nexusd socket in
// ~/.config/nexus/e2b-keys.json (0600), because nexusd keeps only key hashes.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"
#include "common/unique_fd.hpp"

namespace nexus::cli {
namespace {

std::string config_dir() {
  if (const char* d = std::getenv("NEXUS_CONFIG_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) return std::string(x) + "/nexus";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.config/nexus";
  return {};
}

Json read_cache(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Json::object();
  std::stringstream text;
  text << in.rdbuf();
  auto j = parse_json(text.str());
  return j && j->is_object() ? *j : Json::object();
}

Result<void> write_cache(const std::string& dir, const std::string& path, const Json& cache) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail(Error(ec, fmt::format("creating '{}': {}", dir, ec.message())));
  // A fresh file of our own (mkstemp: O_EXCL, mode 0600), never one planted in the directory.
  std::string tmp = path + ".XXXXXX";
  UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd) return fail_errno(fmt::format("creating a file in '{}'", dir));
  std::string text = dump_json(cache) + "\n";
  bool ok = ::fchmod(fd.get(), 0600) == 0 &&
            ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd.get()) == 0;
  int err = errno;
  fd.reset();
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) err = errno;
    ::unlink(tmp.c_str());
    return fail_errno(err, fmt::format("writing '{}'", path));
  }
  return {};
}

std::string shell_quote(const std::string& s) {
  bool plain = !s.empty();
  for (char c : s)
    if (!(isalnum(static_cast<unsigned char>(c)) || std::string_view("_-.:/@%+=,").find(c) != std::string_view::npos))
      plain = false;
  if (plain) return s;
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

}  // namespace

int run_e2b_command(const Command& cmd, const ApiClient& api, const Console& console) {
  auto where = api.call(cmd.request);
  if (!where) return report_failure(console, where.error(), cmd.socket, false);
  std::string url = field_text(*where, "api_url");
  std::string sandbox_url = where->value("sandbox_url", url);

  // Reuse the remembered key while nexusd still lists it; otherwise make a new one.
  std::string dir = config_dir();
  std::string path = dir.empty() ? std::string() : dir + "/e2b-keys.json";
  Json cache = path.empty() ? Json::object() : read_cache(path);
  std::string key;
  if (auto it = cache.find(cmd.socket); it != cache.end() && it->is_object()) {
    std::string id = it->value("id", std::string());
    auto keys = api.call(ApiRequest{"GET", "/v1/auth/keys", std::nullopt});
    if (!keys) return report_failure(console, keys.error(), cmd.socket, false);
    for (const Json& k : array_member(*keys, "keys"))
      if (k.value("id", std::string()) == id && !id.empty()) key = it->value("key", std::string());
  }
  if (key.empty()) {
    auto made = api.call(ApiRequest{"POST", "/v1/auth/keys", Json{{"name", "nexus e2b env"}}});
    if (!made) return report_failure(console, made.error(), cmd.socket, false);
    key = field_text(*made, "key");
    cache[cmd.socket] = Json{{"id", field_text(*made, "id")}, {"key", key}};
    if (path.empty()) {
      console.err("nexus: no HOME or NEXUS_CONFIG_DIR: the new key is not remembered\n");
    } else if (auto w = write_cache(dir, path, cache); !w) {
      console.err(fmt::format("nexus: warning: cannot remember the key: {}\n", w.error().message()));
    }
  }
  if (cmd.json) {
    console.out(json_text(Json{{"E2B_API_URL", url}, {"E2B_SANDBOX_URL", sandbox_url}, {"E2B_API_KEY", key}}));
    return exit_ok;
  }
  console.out(fmt::format("export E2B_API_URL={}\nexport E2B_SANDBOX_URL={}\nexport E2B_API_KEY={}\n",
                          shell_quote(url), shell_quote(sandbox_url), shell_quote(key)));
  return exit_ok;
}

}  // namespace nexus::cli
