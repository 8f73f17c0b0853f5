// SPDX-License-Identifier: Apache-2.0
// Nexusfile build jobs: POST /v1/templates, GET /v1/builds/{id}[/events].
#include <fmt/format.h>

#include "common/log.hpp"
#include "common/strings.hpp"
#include "daemon/api_util.hpp"
#include "daemon/image_service.hpp"
#include "daemon/template_build.hpp"
#include "daemon/template_service.hpp"
#include "rootfs/cache_key.hpp"
#include "rootfs/oci/reference.hpp"

namespace nexus::daemon {
namespace {

constexpr const char* kLog = "daemon.template";
constexpr size_t kKeptBuilds = 32;                    // ended jobs GET /v1/builds still answers for
constexpr size_t kMaxHistoryBytes = 8 * 1024 * 1024;  // replayed events; later log lines are dropped
constexpr size_t kWatcherHighWater = 1 * 1024 * 1024;  // a slow watcher misses progress events past this

Json error_json(const Error& e) { return Json{{"code", api_code_for(e)}, {"message", e.message()}}; }

/// "line 3: ..." -> 3, else 0.
int line_of(const std::string& message) {
  if (message.rfind("line ", 0) != 0) return 0;
  return std::atoi(message.c_str() + 5);
}

}  // namespace

struct TemplateService::Job {
  std::string id, name;
  Json steps = Json::array();  // loop thread: [{index, text, state, elapsed_ms}]
  std::string state = "running";
  Json error;  // loop thread: {code, message} once failed
  std::string started_at, finished_at;
  std::vector<std::string> history;  // loop thread: every event line so far (bounded)
  size_t history_bytes = 0;
  bool history_full = false;
  std::vector<std::shared_ptr<http::Exchange>> watchers;  // loop thread
  std::thread worker;
  std::unique_ptr<uv::Async> wake;
  std::atomic<bool> cancel{false};
  std::mutex mu;
  std::vector<Json> pending;  // guarded by mu
  bool finished = false;      // guarded by mu
  Result<rootfs::TemplateInfo> result = fail(Errc::internal, "the build did not finish");  // guarded by mu
};

void TemplateService::stop_jobs() {
  for (auto& [id, job] : jobs_) job->cancel = true;
  for (auto& [id, job] : jobs_)
    if (job->worker.joinable()) job->worker.join();
}

void TemplateService::create(Json body, std::string context_tar, std::shared_ptr<http::Exchange> ex) {
  auto name = json_string(body, "name");
  auto text = json_string(body, "nexusfile");
  for (auto* e : {name ? nullptr : &name.error(), text ? nullptr : &text.error()})
    if (e) return reply_error(ex, *e);
  if (auto v = rootfs::validate_template_name(*name); !v) return reply_error(ex, v.error());
  if (text->empty()) return reply_error(ex, Error(Errc::invalid_argument, "field 'nexusfile' is required"));
  auto file = rootfs::parse_nexusfile(*text);
  if (!file) {
    const Error& e = file.error();
    Json err = error_json(e);
    if (int line = line_of(e.message())) err["line"] = line;
    return reply_json(ex, http_status_for(e), Json{{"error", err}});
  }
  rootfs::TemplateDefaults api_defaults;
  if (auto d = body.find("defaults"); d != body.end() && !d->is_null()) {
    auto parsed = rootfs::template_defaults_from_json(*d);
    if (!parsed) return reply_error(ex, parsed.error().wrap("defaults"));
    if (auto v = rootfs::validate(*parsed); !v) return reply_error(ex, v.error().wrap("defaults"));
    api_defaults = std::move(*parsed);
  }
  auto plan = std::make_unique<BuildPlan>();
  plan->context_tar = std::move(context_tar);
  bool dry_run = body.value("dry_run", false);
  Json base_info;
  if (file->base.kind == rootfs::NexusfileBase::Kind::image) {
    auto ref = oci::parse_reference(file->base.image);
    if (!ref) return reply_error(ex, ref.error().wrap(fmt::format("line {}: FROM", file->base.line)));
    plan->image.reference = ref->str();
    base_info = Json{{"type", "image"}, {"reference", plan->image.reference}, {"pulled", false}};
    if (images_)
      if (auto found = images_->find(plan->image.reference); found && !found->empty()) {
        Json img = images_->to_json(found->front());
        plan->image.manifest_digest = img.value("manifest_digest", std::string());
        plan->image.rootfs = img.value("rootfs", std::string());
        if (auto c = img.find("config"); c != img.end())
          if (auto cfg = oci::image_config_from_json(*c)) plan->image.config = std::move(*cfg);
        base_info["pulled"] = true;
        base_info["manifest_digest"] = plan->image.manifest_digest;
      }
  } else {
    rootfs::DebianBase b;
    b.suite = file->base.suite;
    std::string cache_dir = config_.cache_dir.empty() ? rootfs::default_cache_dir() : config_.cache_dir;
    std::string cached = rootfs::cached_base_path(cache_dir, b);
    base_info = Json{{"type", "debian"}, {"suite", b.suite}, {"cached", ::access(cached.c_str(), R_OK) == 0}, {"cache_path", cached}};
  }
  Json steps = Json::array();
  steps.push_back(Json{{"index", 1}, {"text", "FROM " + file->base.str()}});
  for (size_t i = 0; i < file->steps.size(); ++i) steps.push_back(Json{{"index", i + 2}, {"text", file->steps[i].text}});
  if (dry_run)
    return reply_json(ex, 200, Json{{"template", *name}, {"steps", steps}, {"base", base_info}, {"warnings", file->warnings}});
  if (auto busy = refuse_if_busy(*name, "rebuilding"); !busy) return reply_error(ex, busy.error());
  if (config_.agent_path.empty()) return reply_error(ex, Error(Errc::unavailable, "nexusd has no agent binary (--agent) for build sandboxes"));

  plan->name = *name;
  plan->file = std::move(*file);
  plan->api_defaults = std::move(api_defaults);
  plan->config = config_;
  auto warnings = plan->file.warnings;
  std::string from = plan->file.base.str();
  std::string id = start_job(*name, steps, std::move(plan), warnings);
  log::info(kLog, "build {}: template '{}' from a Nexusfile (FROM {})", id, *name, from);
  reply_json(ex, 202, Json{{"build_id", id}, {"template", *name}});
}

std::string TemplateService::start_job(const std::string& name, const Json& steps, std::unique_ptr<BuildPlan> plan,
                                       const std::vector<std::string>& warnings) {
  auto job = std::make_shared<Job>();
  job->id = "bld_" + random_base32(16);
  job->name = name;
  job->started_at = format_rfc3339_ms(unix_now_ms());
  for (auto s : steps) {
    s["state"] = "pending";
    job->steps.push_back(s);
  }
  plan->build_id = job->id;
  record(*job, Json{{"type", "build"}, {"build_id", job->id}, {"template", name}, {"steps", steps}});
  for (const auto& w : warnings) record(*job, Json{{"type", "log"}, {"step", 1}, {"line", "warning: " + w}});
  jobs_[job->id] = job;
  running_[name] = job->id;
  launch(job, std::move(plan));
  return job->id;
}

void TemplateService::launch(std::shared_ptr<Job> job, std::unique_ptr<BuildPlan> plan) {
  Job* raw = job.get();
  job->wake = std::make_unique<uv::Async>(loop_, [this, raw] { pump_job(*raw); });
  job->worker = std::thread([raw, plan = std::shared_ptr<BuildPlan>(std::move(plan))] {
    auto emit = [raw](Json ev) {
      {
        std::lock_guard lock(raw->mu);
        raw->pending.push_back(std::move(ev));
      }
      raw->wake->send();
    };
    auto r = plan->seeded ? run_seeded_build(*plan, raw->cancel, emit) : run_build(*plan, raw->cancel, emit);
    {
      std::lock_guard lock(raw->mu);
      raw->result = std::move(r);
      raw->finished = true;
    }
    raw->wake->send();
  });
}

void TemplateService::record(Job& job, const Json& ev) {
  std::string type = ev.value("type", "");
  if (type == "step") {
    size_t i = ev.value("index", size_t{0});
    if (i >= 1 && i <= job.steps.size()) {
      job.steps[i - 1]["state"] = ev.value("state", "running");
      if (ev.contains("elapsed_ms")) job.steps[i - 1]["elapsed_ms"] = ev["elapsed_ms"];
    }
  }
  std::string line = dump_json(ev) + "\n";
  bool lossy = type == "progress" || type == "unpack";
  bool last = type == "done" || type == "error";
  if (!lossy && (last || !job.history_full)) {
    if (!last && job.history_bytes + line.size() > kMaxHistoryBytes) {
      job.history_full = true;
      std::string note = dump_json(Json{{"type", "log"}, {"step", 0}, {"line", "(later log lines are not kept for replay)"}}) + "\n";
      job.history.push_back(note);
    } else {
      job.history_bytes += line.size();
      job.history.push_back(line);
    }
  }
  std::erase_if(job.watchers, [](const auto& w) { return w->aborted(); });
  for (auto& w : job.watchers)
    if (!lossy || w->pending_bytes() < kWatcherHighWater) w->write(line);
}

void TemplateService::pump_job(Job& job) {
  auto it = jobs_.find(job.id);
  if (it == jobs_.end() || it->second.get() != &job) return;
  std::shared_ptr<Job> keep = it->second;
  std::vector<Json> events;
  bool finished;
  {
    std::lock_guard lock(job.mu);
    events.swap(job.pending);
    finished = job.finished;
  }
  for (auto& ev : events) record(job, ev);
  if (!finished || job.state != "running") return;
  if (job.worker.joinable()) job.worker.join();
  running_.erase(job.name);
  job.finished_at = format_rfc3339_ms(unix_now_ms());
  if (job.result) {
    job.state = "done";
    auto d = describe(job.name);
    record(job, Json{{"type", "done"}, {"template", d ? *d : Json{{"name", job.name}}}});
    log::info(kLog, "build {}: template '{}' built", job.id, job.name);
  } else {
    job.state = "failed";
    job.error = error_json(job.result.error());
    for (auto& s : job.steps)
      if (s["state"] == "running") s["state"] = "failed";
    record(job, Json{{"type", "error"}, {"code", job.error["code"]}, {"message", job.error["message"]}});
    log::error(kLog, "build {}: template '{}': {}", job.id, job.name, job.result.error().message());
  }
  for (auto& w : job.watchers) w->finish();
  job.watchers.clear();
  finished_.push_back(job.id);
  while (finished_.size() > kKeptBuilds) {
    jobs_.erase(finished_.front());
    finished_.pop_front();
  }
}

Json TemplateService::job_json(const Job& job) const {
  Json j = {{"build_id", job.id}, {"template", job.name}, {"state", job.state}, {"steps", job.steps},
            {"started_at", job.started_at}, {"error", job.error}};
  if (!job.finished_at.empty()) j["finished_at"] = job.finished_at;
  return j;
}

void TemplateService::watch(Job& job, std::shared_ptr<http::Exchange> ex, bool follow) {
  http::Headers h;
  h.set("Content-Type", "application/x-ndjson");
  h.set("Cache-Control", "no-store");
  ex->start(200, std::move(h));
  for (const auto& line : job.history) ex->write(line);
  if (!follow || job.state != "running") return ex->finish();
  job.watchers.push_back(std::move(ex));
}

void TemplateService::handle_builds(const std::vector<std::string>& parts, std::shared_ptr<http::Exchange> ex) {
  const auto& method = ex->request().method;
  if (method != "GET") return reply_error(ex, 405, "method_not_allowed", "use GET");
  if (parts.size() == 3) {
    Json arr = Json::array();
    for (auto& [id, job] : jobs_) arr.push_back(job_json(*job));
    return reply_json(ex, 200, Json{{"builds", arr}});
  }
  auto it = jobs_.find(parts[3]);
  if (it == jobs_.end())
    return reply_error(ex, Error(Errc::not_found, fmt::format("build '{}' not found (ended builds are kept until nexusd restarts, the last {})",
                                                              parts[3], kKeptBuilds)));
  if (parts.size() == 4) return reply_json(ex, 200, job_json(*it->second));
  if (parts.size() == 5 && parts[4] == "events") {
    bool follow = ex->request().query.find("follow=0") == std::string::npos &&
                  ex->request().query.find("follow=false") == std::string::npos;
    return watch(*it->second, std::move(ex), follow);
  }
  reply_error(ex, 404, "not_found", fmt::format("no such endpoint '{}'", ex->request().path));
}

}  // namespace nexus::daemon
