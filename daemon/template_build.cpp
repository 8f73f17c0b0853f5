// SPDX-License-Identifier: Apache-2.0
// run_build: base, steps in a build sandbox, install.
#include "daemon/template_build.hpp"

#include <dirent.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "common/log.hpp"
#include "common/strings.hpp"
#include "common/unique_fd.hpp"
#include "common/uv.hpp"
#include "daemon/agent_client.hpp"
#include "daemon/build_tree.hpp"
#include "daemon/jail/jail.hpp"
#include "rootfs/cache_key.hpp"
#include "rootfs/debian_bootstrap.hpp"
#include "rootfs/extract.hpp"
#include "rootfs/fs_util.hpp"
#include "rootfs/layer/apply.hpp"
#include "rootfs/subprocess.hpp"
#include "rootfs/template_builder.hpp"
#include "daemon/fs_helpers.hpp"

namespace nexus::daemon {
namespace {

constexpr const char* kLog = "daemon.build";
constexpr int kExtrasFormat = 1;
constexpr size_t kMaxLogLine = 4096;
constexpr uint64_t kMaxContextUnpacked = uint64_t{1} << 30;

using Clock = std::chrono::steady_clock;

int64_t ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

Json log_event(size_t step, std::string_view line) {
  std::string l(line.substr(0, kMaxLogLine));
  return Json{{"type", "log"}, {"step", step}, {"line", l}};
}

/// Splits a byte stream into lines for log events.
class LineSplitter {
 public:
  LineSplitter(const BuildEmit& emit, size_t step) : emit_(emit), step_(step) {}
  void feed(std::string_view data) {
    buf_.append(data);
    size_t nl;
    while ((nl = buf_.find('\n')) != std::string::npos) {
      emit_(log_event(step_, std::string_view(buf_).substr(0, nl)));
      buf_.erase(0, nl + 1);
    }
    if (buf_.size() > kMaxLogLine) {
      emit_(log_event(step_, buf_));
      buf_.clear();
    }
  }
  void flush() {
    if (!buf_.empty()) emit_(log_event(step_, buf_));
    buf_.clear();
  }

 private:
  const BuildEmit& emit_;
  size_t step_;
  std::string buf_;
};

std::string builds_dir(const DaemonConfig& c) { return c.root_dir + "/builds"; }

/// The jail over the tree being built. Consecutive RUN steps share one; stop() kills it and
/// merges its upper dir into the tree.
class BuildSandbox {
 public:
  BuildSandbox(const BuildPlan& plan, std::string tree, std::string dir, const std::atomic<bool>& cancel)
      : plan_(plan), tree_(std::move(tree)), dir_(std::move(dir)), cancel_(cancel) {}
  ~BuildSandbox() { (void)kill(); }

  bool running() const { return handle_.pid > 0; }

  Result<void> start() {
    const auto& c = plan_.config;
    std::string sock_dir = fmt::format("{}/builds/{}", c.run_dir, plan_.build_id);
    NEXUS_TRY(rootfs::make_dirs(sock_dir, 0700));
    NEXUS_TRY(rootfs::make_dirs(builds_dir(c), 0700));
    auto listen_fd = listen_agent_socket(sock_dir + "/agent.sock", 16);
    if (!listen_fd) return fail(std::move(listen_fd).error());
    (void)rootfs::remove_tree(dir_);
    NEXUS_TRY(rootfs::make_dirs(dir_, 0700));
    jail::Spec spec;
    spec.id = plan_.build_id;
    spec.lower_dir = tree_;
    spec.sandbox_dir = dir_;
    spec.agent_path = c.agent_path;
    spec.agent_args = {"--listen-fd", "3"};
    spec.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LISTEN_FDS=1"};
    spec.listen_fd = listen_fd->get();
    spec.limits.cpus = static_cast<int>(plan_.api_defaults.cpus.value_or(c.default_cpus));
    spec.limits.memory_bytes = static_cast<uint64_t>(plan_.api_defaults.memory_mib.value_or(2048)) << 20;
    spec.limits.pids = std::max<uint64_t>(c.pids_limit, 1024);
    spec.uid_base = c.uid_base;
    spec.uid_count = c.uid_count;
    spec.log_path = fmt::format("{}/{}.agent.log", builds_dir(c), plan_.build_id);
    auto h = jail::spawn(spec);
    if (!h) return fail(std::move(h).error().wrap("starting the build sandbox"));
    handle_ = *h;
    // A restarted nexusd kills what this file names (clean_build_leftovers).
    Json rec = {{"id", plan_.build_id}, {"pid", handle_.pid}, {"start_time", handle_.start_time}};
    (void)rootfs::write_file_synced(record_path(), dump_json(rec));  // best effort: cleanup aid only
    token_ = random_hex(16);
    agent_ = std::make_unique<AgentClient>(loop_, http::Endpoint::unix_socket(sock_dir + "/agent.sock"), "");
    Result<void> init = fail(Errc::internal, "no answer to init");
    agent_->init(Json{{"envVars", Json::object()}, {"defaultUser", "root"}, {"defaultWorkdir", "/"}, {"accessToken", token_}},
                 [&](Result<void> r) {
                   init = std::move(r);
                   loop_.stop();
                 });
    loop_.run();
    agent_ = std::make_unique<AgentClient>(loop_, http::Endpoint::unix_socket(sock_dir + "/agent.sock"), token_);
    if (!init) return fail(std::move(init).error().wrap("initialising the build sandbox's agent"));
    return {};
  }

  /// Runs argv as `user` in `cwd` with `env`; its output lines become log events of `step`.
  /// Returns how it ended.
  Result<ProcessEnd> run(const std::vector<std::string>& argv, const std::string& user, const std::string& cwd,
                  const std::map<std::string, std::string>& env, size_t step, const BuildEmit& emit) {
    ProcessSpec spec;
    spec.cmd = argv.at(0);
    spec.args.assign(argv.begin() + 1, argv.end());
    spec.env = env;
    spec.cwd = cwd;
    spec.user = user;
    LineSplitter out(emit, step), err(emit, step);
    std::optional<ProcessEnd> end;
    Result<void> done = fail(Errc::internal, "the process stream did not end");
    ProcessCallbacks cb;
    cb.on_stdout = [&](std::string_view d) { out.feed(d); };
    cb.on_stderr = [&](std::string_view d) { err.feed(d); };
    cb.on_end = [&](const ProcessEnd& e) { end = e; };
    cb.on_done = [&](Result<void> r) {
      done = std::move(r);
      loop_.stop();
    };
    auto call = agent_->start(spec, std::move(cb));
    uv::Timer watch(loop_);
    bool cancelled = false;
    watch.start(200, 200, [&] {
      if (!cancel_) return;
      cancelled = true;
      call->cancel();
      loop_.stop();
    });
    loop_.run();
    watch.stop();
    out.flush();
    err.flush();
    if (cancelled) return fail(Errc::conflict, "the build was cancelled");
    if (!done) return fail(std::move(done).error());
    if (!end) return fail(Errc::protocol, "the agent did not report how the process ended");
    return *end;
  }

  /// Stops the sandbox and moves its changes into the tree.
  Result<build::MergeStats> stop_and_merge() {
    NEXUS_TRY(kill());
    auto stats = build::merge_upper(dir_ + "/upper", tree_);
    if (!stats) return fail(std::move(stats).error().wrap("merging the build sandbox's changes"));
    NEXUS_TRY(rootfs::remove_tree(dir_));
    return stats;
  }

  /// The agent resolves users by name: the passwd name of a numeric USER, looked up in the
  /// sandbox's upper dir first (a RUN may just have added it), then the tree.
  Result<std::string> agent_user(const std::string& spec) {
    std::string user = spec.substr(0, spec.find(':'));
    if (user.find_first_not_of("0123456789") != std::string::npos) return user;
    for (const auto& root : {dir_ + "/upper", tree_}) {
      auto o = build::resolve_owner(root, user);
      if (o && !o->name.empty()) return o->name;
    }
    return fail(Errc::invalid_argument, fmt::format("USER {} has no /etc/passwd entry (the agent runs users by name)", user));
  }

 private:
  std::string record_path() const { return fmt::format("{}/{}.json", builds_dir(plan_.config), plan_.build_id); }

  Result<void> kill() {
    if (!running()) return {};
    agent_.reset();
    auto r = jail::destroy(plan_.build_id, handle_, "");  // keeps dir_: its upper is merged next
    handle_ = {};
    (void)::unlink(record_path().c_str());
    (void)rootfs::remove_tree(fmt::format("{}/builds/{}", plan_.config.run_dir, plan_.build_id));
    if (!r) return fail(std::move(r).error().wrap("stopping the build sandbox"));
    return {};
  }

  const BuildPlan& plan_;
  std::string tree_, dir_;
  const std::atomic<bool>& cancel_;
  uv::Loop loop_;
  std::unique_ptr<AgentClient> agent_;
  jail::Handle handle_{};
  std::string token_;
};

/// The state the steps change: what RUN runs with and the template's defaults.
struct StepState {
  std::map<std::string, std::string> env;
  std::string workdir = "/";
  std::string user = "root";
  std::optional<rootfs::Command> cmd;
};

Result<void> build_base_debian(const BuildPlan& plan, const std::string& rootfs_dir, const BuildEmit& emit) {
  rootfs::DebianBase base;
  base.suite = plan.file.base.suite;
  std::string cache_dir = plan.config.cache_dir.empty() ? rootfs::default_cache_dir() : plan.config.cache_dir;
  auto progress = [&](std::string_view line) { emit(log_event(1, line)); };
  auto tarball = rootfs::ensure_debian_base(base, cache_dir, "mmdebstrap", progress);
  if (!tarball) return fail(std::move(tarball).error());
  rootfs::ExtractOptions eopt{plan.config.uid_base, plan.config.uid_count, true};
  auto stats = rootfs::extract_tar(*tarball, rootfs_dir, eopt, progress);
  if (!stats) return fail(std::move(stats).error().wrap(fmt::format("extracting {}", *tarball)));
  return {};
}

/// Pulls through nexusd's own API, so the pull is ImageService's like any other (one per
/// reference, recorded, never raced by gc) and its events pass straight into the build's.
Result<BaseImage> pull_through_daemon(const BuildPlan& plan, const std::atomic<bool>& cancel, const BuildEmit& emit) {
  uv::Loop loop;
  http::ClientRequest req;
  req.method = "POST";
  req.target = "/v1/images/pull";
  req.headers.set("Content-Type", "application/json");
  req.body = dump_json(Json{{"reference", plan.image.reference}});
  std::string buf;
  std::optional<Json> image;
  std::optional<Error> error;
  int status = 0;
  http::ResponseCallbacks cb;
  cb.on_head = [&](const http::ResponseHead& h) { status = h.status; };
  cb.on_data = [&](std::string_view d) {
    buf.append(d);
    if (status != 200) return;
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      auto ev = parse_json(std::string_view(buf).substr(0, nl));
      buf.erase(0, nl + 1);
      if (!ev || !ev->is_object()) continue;
      std::string type = ev->value("type", "");
      if (type == "progress" || type == "resolved" || type == "unpack") emit(std::move(*ev));
      else if (type == "done") image = ev->value("image", Json::object());
      else if (type == "error") error = Error(Errc::unavailable, ev->value("message", std::string("the pull failed")));
    }
  };
  Result<void> ended = fail(Errc::internal, "no answer");
  cb.on_end = [&](Result<void> r) {
    ended = std::move(r);
    loop.stop();
  };
  auto call = http::request(loop, http::Endpoint::unix_socket(plan.config.socket_path), std::move(req), std::move(cb));
  uv::Timer watch(loop);
  watch.start(200, 200, [&] {
    if (cancel) call->cancel();
  });
  loop.run();
  watch.stop();
  if (cancel) return fail(Errc::conflict, "the build was cancelled");
  if (status != 200) {
    auto body = parse_json(buf);
    std::string msg = body && body->is_object() && body->contains("error") ? body->at("error").value("message", buf) : buf;
    return fail(status == 404 ? Errc::not_found : Errc::invalid_argument, msg);
  }
  if (error) return fail(*error);
  if (!ended) return fail(std::move(ended).error().wrap("the pull's stream broke"));
  if (!image) return fail(Errc::protocol, "the pull ended without an image");
  BaseImage img;
  img.reference = image->value("reference", plan.image.reference);
  img.manifest_digest = image->value("manifest_digest", std::string());
  img.rootfs = image->value("rootfs", std::string());
  if (auto c = image->find("config"); c != image->end()) {
    auto parsed = oci::image_config_from_json(*c);
    if (parsed) img.config = std::move(*parsed);
  }
  return img;
}

Result<BaseImage> build_base_image(const BuildPlan& plan, const std::string& rootfs_dir, const std::atomic<bool>& cancel,
                                   const BuildEmit& emit) {
  BaseImage img = plan.image;
  if (img.manifest_digest.empty()) {
    emit(log_event(1, fmt::format("pulling {}", plan.image.reference)));
    auto pulled = pull_through_daemon(plan, cancel, emit);
    if (!pulled) return fail(std::move(pulled).error().wrap(fmt::format("pulling {}", plan.image.reference)));
    img = std::move(*pulled);
  }
  if (img.rootfs.empty()) return fail(Errc::internal, "the image has no unpacked tree");
  emit(log_event(1, fmt::format("copying {} ({})", img.reference, img.manifest_digest)));
  // cp -a keeps owners (already shifted), modes, hardlinks, xattrs and times; reflinks
  // where the filesystem can.
  auto cp = rootfs::run_command({"cp", "-a", "--reflink=auto", "--", img.rootfs + "/.", rootfs_dir + "/"},
                                [&](std::string_view line) { emit(log_event(1, line)); });
  if (!cp) return fail(std::move(cp).error().wrap("copying the image tree"));
  // A layer without a "./" entry leaves the tree's root as the unpacker made it (host root):
  // give it to the sandbox's root, as an image root always is.
  struct stat st {};
  if (::stat(rootfs_dir.c_str(), &st) != 0) return fail_errno(fmt::format("inspecting {}", rootfs_dir));
  const auto& c = plan.config;
  if (st.st_uid < c.uid_base || st.st_uid >= c.uid_base + c.uid_count || st.st_gid < c.uid_base ||
      st.st_gid >= c.uid_base + c.uid_count)
    if (::chown(rootfs_dir.c_str(), c.uid_base, c.uid_base) != 0) return fail_errno(fmt::format("chown {}", rootfs_dir));
  return img;
}

std::string step_where(const rootfs::Step& s) { return fmt::format("line {}: {}", s.line, s.text); }

}  // namespace

Json seeded_build_steps(const rootfs::TemplateDef& def) {
  std::string packages = fmt::format("{}", fmt::join(def.base.packages, " "));
  return Json::array({Json{{"index", 1}, {"text", fmt::format("FROM debian:{} with {} packages: {}", def.base.suite,
                                                               def.base.packages.size(), packages)}},
                      Json{{"index", 2}, {"text", "install the template (extract with the id shift)"}}});
}

Result<rootfs::TemplateInfo> run_seeded_build(const BuildPlan& plan, const std::atomic<bool>& cancel, const BuildEmit& emit) {
  const rootfs::TemplateDef& def = *plan.seeded;
  rootfs::BuildOptions opts;
  opts.cache_dir = plan.config.cache_dir;
  opts.uid_base = plan.config.uid_base;
  opts.uid_count = plan.config.uid_count;
  auto t0 = Clock::now();
  auto step = [&](size_t index, const char* state) {
    Json ev{{"type", "step"}, {"index", index}, {"state", state}};
    if (std::string_view(state) != "running") ev["elapsed_ms"] = ms_since(t0);
    emit(std::move(ev));
  };
  step(1, "running");
  auto tarball = rootfs::bootstrap_template_base(def, opts, [&](std::string_view l) { emit(log_event(1, l)); });
  if (!tarball) {
    step(1, "failed");
    return fail(std::move(tarball).error().wrap("step 1/2 (the Debian base)"));
  }
  step(1, "done");
  if (cancel) return fail(Errc::conflict, "the build was cancelled");
  t0 = Clock::now();
  step(2, "running");
  auto info = rootfs::install_template(def, *tarball, plan.config.templates_dir(), opts,
                                       [&](std::string_view l) { emit(log_event(2, l)); });
  if (!info) {
    step(2, "failed");
    return fail(std::move(info).error().wrap("step 2/2 (installing the template)"));
  }
  step(2, "done");
  return info;
}

Result<TemplateExtras> read_template_extras(const std::string& dir) {
  TemplateExtras x;
  auto text = rootfs::read_file(dir + "/" + kExtrasFile);
  if (!text) {
    if (text.error().is(Errc::not_found)) return x;
    return fail(std::move(text).error());
  }
  auto j = parse_json(*text);
  if (!j || !j->is_object()) return fail(Errc::invalid_argument, fmt::format("{}/{} is not a JSON object", dir, kExtrasFile));
  if (auto b = j->find("base"); b != j->end() && b->is_object()) x.base = *b;
  if (auto d = j->find("defaults"); d != j->end()) {
    auto defs = rootfs::template_defaults_from_json(*d);
    if (!defs) return fail(std::move(defs).error().wrap(fmt::format("{}/{}", dir, kExtrasFile)));
    x.defaults = std::move(*defs);
  }
  x.build_id = j->value("build_id", std::string());
  return x;
}

Result<void> write_template_extras(const std::string& dir, const TemplateExtras& x) {
  Json j = {{"format", kExtrasFormat}, {"base", x.base}, {"defaults", rootfs::to_json(x.defaults)}, {"build_id", x.build_id}};
  std::string tmp = fmt::format("{}/.{}.tmp", dir, kExtrasFile);
  NEXUS_TRY(rootfs::write_file_synced(tmp, dump_json(j, 2) + "\n"));
  std::string path = dir + "/" + kExtrasFile;
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail_errno(fmt::format("installing {}", path));
  return rootfs::fsync_dir(dir);
}

rootfs::TemplateDefaults defaults_from_image(const oci::ImageConfig& c) {
  rootfs::TemplateDefaults d;
  for (const auto& kv : c.env) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    d.env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (!c.working_dir.empty() && c.working_dir[0] == '/') d.workdir = c.working_dir;
  if (!c.user.empty()) d.user = c.user;
  std::vector<std::string> argv = c.entrypoint;
  argv.insert(argv.end(), c.cmd.begin(), c.cmd.end());
  if (!argv.empty()) d.start_command = rootfs::Command::exec(std::move(argv));
  return d;
}

void clean_build_leftovers(const DaemonConfig& config) {
  std::string dir = builds_dir(config);
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> records;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > 5 && n.ends_with(".json")) records.push_back(n);
  }
  ::closedir(d);
  for (const auto& n : records) {
    auto text = rootfs::read_file(dir + "/" + n);
    auto j = text ? parse_json(*text) : Result<Json>(fail(text.error()));
    if (j && j->is_object()) {
      jail::Handle h{};
      h.pid = j->value("pid", -1);
      h.start_time = j->value("start_time", uint64_t{0});
      std::string id = j->value("id", std::string());
      if (!id.empty()) {
        if (auto r = jail::destroy(id, h, ""); !r) log::warning(kLog, "cleaning up build sandbox {}: {}", id, r.error().message());
        else log::info(kLog, "removed build sandbox {} of an interrupted build", id);
      }
    }
    (void)::unlink((dir + "/" + n).c_str());
  }
}

Result<rootfs::TemplateInfo> run_build(const BuildPlan& plan, const std::atomic<bool>& cancel, const BuildEmit& emit) {
  const auto& c = plan.config;
  const auto& file = plan.file;
  auto pending = rootfs::PendingTemplate::begin(c.templates_dir(), plan.name, c.uid_base, true);
  if (!pending) return fail(std::move(pending).error());
  const std::string tree = pending->rootfs_path();
  const std::string work = tree.substr(0, tree.rfind('/'));  // .<name>@tmp.XXXX: removed with the pending template
  size_t total = file.steps.size() + 1;

  auto step_failed = [&](size_t index, Clock::time_point t0, Error e) -> Error {
    emit(Json{{"type", "step"}, {"index", index}, {"state", "failed"}, {"elapsed_ms", ms_since(t0)}});
    return e;
  };

  // ---- step 1: FROM
  auto t0 = Clock::now();
  emit(Json{{"type", "step"}, {"index", 1}, {"state", "running"}});
  TemplateExtras extras;
  extras.build_id = plan.build_id;
  StepState st;
  if (file.base.kind == rootfs::NexusfileBase::Kind::debian) {
    if (auto r = build_base_debian(plan, tree, emit); !r)
      return fail(step_failed(1, t0, std::move(r).error().wrap(fmt::format("step 1/{} (line {}: FROM {})", total, file.base.line, file.base.str()))));
    extras.base = Json{{"type", "debian"}, {"suite", file.base.suite}};
  } else {
    auto img = build_base_image(plan, tree, cancel, emit);
    if (!img)
      return fail(step_failed(1, t0, std::move(img).error().wrap(fmt::format("step 1/{} (line {}: FROM {})", total, file.base.line, file.base.str()))));
    extras.base = Json{{"type", "image"}, {"reference", img->reference}, {"manifest_digest", img->manifest_digest}};
    auto seeded = defaults_from_image(img->config);
    st.env = seeded.env;
    if (seeded.workdir) st.workdir = *seeded.workdir;
    if (seeded.user) st.user = *seeded.user;
    st.cmd = seeded.start_command;
  }
  emit(Json{{"type", "step"}, {"index", 1}, {"state", "done"}, {"elapsed_ms", ms_since(t0)}});

  // ---- the build context, unpacked with the layer rules (no '..', no symlink following)
  std::string context = work + "/context";
  NEXUS_TRY(rootfs::make_dirs(context, 0700));
  if (!plan.context_tar.empty()) {
    std::string tar = work + "/context.tar";
    NEXUS_TRY(rootfs::write_file_synced(tar, plan.context_tar));
    rootfs::layer::ApplyOptions aopt;
    aopt.limits.max_unpacked_bytes = kMaxContextUnpacked;
    aopt.limits.max_entries = 200'000;
    rootfs::layer::LayerBlob blob{tar, "", "build context"};
    auto applied = rootfs::layer::apply_layers(std::span(&blob, 1), context, aopt);
    if (!applied) return fail(std::move(applied).error().wrap("unpacking the build context"));
    (void)::unlink(tar.c_str());
  }

  // ---- the steps
  BuildSandbox sandbox(plan, tree, work + "/sandbox", cancel);
  std::string ensured_workdir;  // the last WORKDIR made in the running sandbox
  for (size_t i = 0; i < file.steps.size(); ++i) {
    const rootfs::Step& s = file.steps[i];
    size_t index = i + 2;
    auto where = [&] { return fmt::format("step {}/{} ({})", index, total, step_where(s)); };
    if (cancel) return fail(Errc::conflict, "the build was cancelled");
    t0 = Clock::now();
    emit(Json{{"type", "step"}, {"index", index}, {"state", "running"}});
    Result<void> ok;
    switch (s.kind) {
      case rootfs::StepKind::run: {
        if (!sandbox.running()) {
          ok = sandbox.start();
          ensured_workdir.clear();
        }
        if (ok && st.workdir != "/" && ensured_workdir != st.workdir) {
          auto mk = sandbox.run({"/bin/sh", "-c", "mkdir -p -- \"$1\"", "sh", st.workdir}, "root", "/", st.env, index, emit);
          if (!mk) ok = fail(std::move(mk).error());
          else if (!mk->exited || mk->exit_code != 0) ok = fail(Errc::invalid_argument, fmt::format("could not make the WORKDIR {}", st.workdir));
          else ensured_workdir = st.workdir;
        }
        Result<std::string> user = ok ? sandbox.agent_user(st.user) : Result<std::string>(fail(ok.error()));
        if (!user) ok = fail(std::move(user).error());
        if (ok) {
          auto rc = sandbox.run(s.command.to_argv(), *user, st.workdir, st.env, index, emit);
          if (!rc) ok = fail(std::move(rc).error());
          else if (!rc->exited || rc->exit_code != 0)
            ok = fail(Errc::invalid_argument,
                      fmt::format("the command failed ({})", rc->status.empty() ? rc->error : rc->status));
        }
        break;
      }
      case rootfs::StepKind::copy: {
        if (sandbox.running()) {
          auto m = sandbox.stop_and_merge();
          if (!m) ok = fail(std::move(m).error());
        }
        build::CopyOwner owner{c.uid_base, c.uid_base, c.uid_base};
        if (ok && !s.chown.empty()) {
          auto o = build::resolve_owner(tree, s.chown);
          if (!o) ok = fail(std::move(o).error().wrap("--chown"));
          else owner = {c.uid_base + o->uid, c.uid_base + o->gid, c.uid_base};
        }
        if (ok) {
          auto copied = build::copy_into(context, s.sources, s.dest, tree, owner);
          if (!copied) ok = fail(std::move(copied).error());
          else emit(log_event(index, fmt::format("copied {} files, {} directories, {} links ({} bytes)", copied->files,
                                                 copied->dirs, copied->symlinks, copied->bytes)));
        }
        break;
      }
      case rootfs::StepKind::env:
        for (const auto& [k, v] : s.env) st.env[k] = v;
        break;
      case rootfs::StepKind::workdir:
        st.workdir = s.path;
        break;
      case rootfs::StepKind::user:
        st.user = s.user;
        break;
      case rootfs::StepKind::cmd:
        if (s.command.form == rootfs::Command::Form::exec && s.command.argv.empty()) st.cmd.reset();
        else st.cmd = s.command;
        break;
    }
    if (!ok) return fail(step_failed(index, t0, std::move(ok).error().wrap(where())));
    emit(Json{{"type", "step"}, {"index", index}, {"state", "done"}, {"elapsed_ms", ms_since(t0)}});
  }
  if (sandbox.running()) {
    auto m = sandbox.stop_and_merge();
    if (!m) return fail(std::move(m).error());
  }
  if (st.workdir != "/") NEXUS_TRY(build::make_dirs_in(tree, st.workdir, c.uid_base, c.uid_base));
  NEXUS_TRY(rootfs::remove_tree(context));
  NEXUS_TRY(rootfs::remove_tree(work + "/sandbox"));

  // ---- defaults: the image's, then the file's, then the API's
  rootfs::TemplateDefaults& d = extras.defaults;
  d = plan.api_defaults;
  d.base = file.base.str();
  std::map<std::string, std::string> env = st.env;
  for (const auto& [k, v] : plan.api_defaults.env) env[k] = v;
  d.env = std::move(env);
  if (!d.workdir && st.workdir != "/") d.workdir = st.workdir;
  if (!d.user) d.user = st.user;
  if (!d.start_command && st.cmd) d.start_command = st.cmd;
  NEXUS_TRY(rootfs::validate(d));
  NEXUS_TRY(write_template_extras(work, extras));

  rootfs::TemplateInfo info;
  info.name = plan.name;
  info.description = fmt::format("built from a Nexusfile (FROM {})", file.base.str());
  info.base.suite = file.base.kind == rootfs::NexusfileBase::Kind::debian ? file.base.suite : "";
  info.base.packages = {};
  info.cache_key = extras.base.value("manifest_digest", std::string("debian:" + file.base.suite));
  info.built_at = format_rfc3339_ms(unix_now_ms());
  info.uid_base = c.uid_base;
  info.uid_count = c.uid_count;
  std::string du;
  if (rootfs::run_command({"du", "-sb", "--", tree}, [&](std::string_view line) { du = std::string(line); }))
    info.size_bytes = std::strtoull(du.c_str(), nullptr, 10);
  return pending->commit(std::move(info));
}

}  // namespace nexus::daemon
