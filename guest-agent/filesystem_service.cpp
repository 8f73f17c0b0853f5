// SPDX-License-Identifier: Apache-2.0
// filesystem.Filesystem RPC handlers.
#include "guest-agent/filesystem_service.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>

#include <fmt/format.h>

#include "guest-agent/entry_info.hpp"
#include "guest-agent/file_writer.hpp"
#include "guest-agent/fs_identity.hpp"
#include "guest-agent/fs_ops.hpp"
#include "guest-agent/paths.hpp"
#include "guest-agent/process_service.hpp"
#include "guest-agent/rpc_request.hpp"
#include "guest-agent/watch_stream.hpp"

namespace nexus::agent {

namespace {

Error missing(const std::string& path) {
  return Error(Errc::not_found, fmt::format("path '{}' does not exist", path));
}

}  // namespace

void FilesystemService::handle(std::string_view method, std::shared_ptr<http::Exchange> ex) {
  bool streaming = method == "WatchDir";
  bool unary = method == "Stat" || method == "ListDir" || method == "MakeDir" ||
               method == "Move" || method == "Remove";
  if (!streaming && !unary) {
    // The polling watcher API is not used by the JS SDK: 501; unknown methods: 404.
    bool known = method == "CreateWatcher" || method == "GetWatcherEvents" ||
                 method == "RemoveWatcher";
    ConnectError e{ConnectCode::unimplemented,
                   fmt::format("filesystem.Filesystem/{} is not implemented", method)};
    return respond_unary_error(*ex, e, known ? 501 : 404);
  }
  std::string m(method);
  read_rpc_request(ex, streaming, [this, ex, m](Json req) {
    if (m == "WatchDir") return watch_dir(ex, req);
    Result<Json> out = m == "Stat"      ? stat(*ex, req)
                       : m == "ListDir" ? list_dir(*ex, req)
                       : m == "MakeDir" ? make_dir(*ex, req)
                       : m == "Move"    ? move(*ex, req)
                                        : remove(*ex, req);
    if (!out) return respond_unary_error(*ex, to_connect_error(out.error()));
    respond_unary(*ex, *out);
  });
}

Result<FilesystemService::Target> FilesystemService::target(const http::Exchange& ex,
                                                            const Json& req, const char* key) {
  auto name = basic_auth_user(ex.request());
  if (!name) return fail(std::move(name).error());
  auto user = state_.resolve_user(*name);
  if (!user) return fail(std::move(user).error());
  auto raw = json_string(req, key);
  if (!raw) return fail(std::move(raw).error());
  auto path = resolve_path(*raw, user->home, state_.default_workdir());
  if (!path) return fail(std::move(path).error());
  return Target{std::move(*user), std::move(*path)};
}

Result<Json> FilesystemService::stat(const http::Exchange& ex, const Json& req) {
  auto t = target(ex, req, "path");
  if (!t) return fail(std::move(t).error());
  EntryInfoBuilder builder(state_.etc_dir());
  FsIdentity as_user(t->user, state_.switch_identity());
  auto entry = builder.build(t->path);
  if (!entry) {
    if (entry.error().errno_value() == ENOENT) return fail(missing(t->path));
    return fail(std::move(entry).error());
  }
  return Json{{"entry", std::move(*entry)}};
}

Result<Json> FilesystemService::list_dir(const http::Exchange& ex, const Json& req) {
  auto t = target(ex, req, "path");
  if (!t) return fail(std::move(t).error());
  auto depth = json_uint32(req, "depth", 1);
  if (!depth) return fail(std::move(depth).error());
  EntryInfoBuilder builder(state_.etc_dir());
  FsIdentity as_user(t->user, state_.switch_identity());
  auto entries = agent::list_dir(t->path, *depth, builder);
  if (!entries) return fail(std::move(entries).error());
  return Json{{"entries", std::move(*entries)}};
}

Result<Json> FilesystemService::make_dir(const http::Exchange& ex, const Json& req) {
  auto t = target(ex, req, "path");
  if (!t) return fail(std::move(t).error());
  {
    FsIdentity as_user(t->user, state_.switch_identity());
    struct stat st {};
    if (::stat(t->path.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode))
        return fail(Errc::already_exists, fmt::format("directory '{}' already exists", t->path));
      return fail(Errc::invalid_argument,
                  fmt::format("path '{}' already exists and is not a directory", t->path));
    }
  }
  // Created as the user, so the new directories belong to them.
  NEXUS_TRY(make_dirs(t->path, t->user, state_.switch_identity()));
  EntryInfoBuilder builder(state_.etc_dir());
  FsIdentity as_user(t->user, state_.switch_identity());
  auto entry = builder.build(t->path);
  if (!entry) return fail(std::move(entry).error());
  return Json{{"entry", std::move(*entry)}};
}

Result<Json> FilesystemService::move(const http::Exchange& ex, const Json& req) {
  auto src = target(ex, req, "source");
  if (!src) return fail(std::move(src).error());
  auto dst = target(ex, req, "destination");
  if (!dst) return fail(std::move(dst).error());
  {
    FsIdentity as_user(src->user, state_.switch_identity());
    struct stat st {};
    if (::lstat(src->path.c_str(), &st) != 0) {
      if (errno == ENOENT)
        return fail(Errc::not_found, fmt::format("source '{}' does not exist", src->path));
      return fail_errno(fmt::format("stat '{}'", src->path));
    }
  }
  NEXUS_TRY(make_dirs(parent_dir(dst->path), dst->user, state_.switch_identity()));
  EntryInfoBuilder builder(state_.etc_dir());
  FsIdentity as_user(dst->user, state_.switch_identity());
  if (::rename(src->path.c_str(), dst->path.c_str()) != 0) {
    if (errno == ENOENT)
      return fail(Errc::not_found, fmt::format("source '{}' does not exist", src->path));
    return fail_errno(fmt::format("moving '{}' to '{}'", src->path, dst->path));
  }
  auto entry = builder.build(dst->path);
  if (!entry) return fail(std::move(entry).error());
  return Json{{"entry", std::move(*entry)}};
}

Result<Json> FilesystemService::remove(const http::Exchange& ex, const Json& req) {
  auto t = target(ex, req, "path");
  if (!t) return fail(std::move(t).error());
  FsIdentity as_user(t->user, state_.switch_identity());
  NEXUS_TRY(remove_all(t->path));
  return Json::object();
}

void FilesystemService::watch_dir(std::shared_ptr<http::Exchange> ex, const Json& req) {
  auto stream_fail = [&](const Error& e) { respond_stream_error(*ex, to_connect_error(e)); };
  auto t = target(*ex, req, "path");
  if (!t) return stream_fail(t.error());
  auto recursive = json_bool(req, "recursive");
  if (!recursive) return stream_fail(recursive.error());
  auto include_entry = json_bool(req, "includeEntry");
  if (!include_entry) return stream_fail(include_entry.error());
  auto allow_network = json_bool(req, "allowNetworkMounts");
  if (!allow_network) return stream_fail(allow_network.error());
  {
    FsIdentity as_user(t->user, state_.switch_identity());
    struct stat st {};
    if (::stat(t->path.c_str(), &st) != 0) {
      if (errno == ENOENT) return stream_fail(missing(t->path));
      return stream_fail(Error::last_errno(fmt::format("stat '{}'", t->path)));
    }
    if (!S_ISDIR(st.st_mode))
      return stream_fail(
          Error(Errc::invalid_argument, fmt::format("path '{}' is not a directory", t->path)));
    auto network = is_network_mount(t->path);
    if (!network) return stream_fail(network.error());
    if (*network && !*allow_network)
      return stream_fail(Error(
          Errc::invalid_argument,
          fmt::format("path '{}' is on a network mount; set allowNetworkMounts to watch it",
                      t->path)));
  }
  WatchOptions o;
  o.path = t->path;
  o.recursive = *recursive;
  o.include_entry = *include_entry;
  o.keepalive_ms = keepalive_interval_ms(ex->request());
  o.deadline_ms = connect_timeout_ms(ex->request());
  o.high_water = kStreamHighWater;
  auto stream = std::make_shared<WatchStream>(loop_, ex, std::move(o), std::move(t->user),
                                              state_.switch_identity(), state_.etc_dir());
  stream->open();
}

}  // namespace nexus::agent
