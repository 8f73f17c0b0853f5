// SPDX-License-Identifier: Apache-2.0
// Template listing and builds.
#include "daemon/template_service.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "common/log.hpp"
#include "common/strings.hpp"
#include "daemon/api_util.hpp"
#include "daemon/template_build.hpp"
#include "rootfs/seeded_templates.hpp"
#include "rootfs/template_builder.hpp"
#include "rootfs/template_store.hpp"

namespace nexus::daemon {
namespace {
constexpr const char* kLog = "daemon.template";
constexpr size_t kMaxBuildBody = (kMaxContextBytes / 3 + 1) * 4 + 2 * 1024 * 1024;
constexpr size_t kMaxParses = 2;  // build request bodies parsed at once
}

// A build request carries its context (up to 256 MiB, as base64): parsing the JSON and
// decoding it takes seconds, so it runs on a thread of its own and create() continues on the
// loop thread with the decoded tar.
struct TemplateService::BodyParse {
  std::thread worker;
  std::unique_ptr<uv::Async> done;
  std::shared_ptr<http::Exchange> ex;
  std::string body;
  Result<Json> json = Json::object();
  std::optional<std::string> context;  // decoded; nullopt when the field was not base64
  bool too_large = false;
};

TemplateService::TemplateService(uv::Loop& loop, const DaemonConfig& config,
                                 std::function<size_t(const std::string&)> users)
    : loop_(loop), config_(config), users_(std::move(users)) {
  clean_build_leftovers(config_);
}

TemplateService::~TemplateService() {
  stop_jobs();
  for (auto& p : parses_)
    if (p->worker.joinable()) p->worker.join();
}

Json TemplateService::to_json(const std::string& name, const rootfs::TemplateInfo* built) const {
  const auto* def = rootfs::find_seeded_template(name);
  Json j = {{"name", name}, {"description", def ? def->description : built ? built->description : ""}};
  j["source"] = def ? "seeded" : "nexusfile";
  auto running = running_.find(name);
  if (running != running_.end()) j["build_id"] = running->second;
  if (running != running_.end()) {
    j["status"] = "building";
  } else if (built) {
    j["status"] = "ready";
    j["built_at"] = built->built_at;
    j["size_bytes"] = built->size_bytes;
  } else {
    j["status"] = "not_built";
  }
  if (built) {
    auto extras = read_template_extras(built->dir);
    if (extras && !extras->base.empty()) {
      j["base"] = extras->base;
    } else {
      j["base"] = Json{{"type", "debian"}, {"suite", built->base.suite}, {"packages", built->base.packages}};
    }
    j["defaults"] = extras ? rootfs::to_json(extras->defaults) : Json::object();
    if (extras && !extras->build_id.empty()) j["last_build_id"] = extras->build_id;
  }
  return j;
}

Result<Json> TemplateService::describe(const std::string& name) {
  auto info = rootfs::read_template(config_.templates_dir(), name);
  if (info) return to_json(name, &*info);
  if (!info.error().is(Errc::not_found)) return fail(info.error());
  if (!rootfs::find_seeded_template(name) && !running_.count(name))
    return fail(Errc::not_found, fmt::format("template '{}' not found", name));
  return to_json(name, nullptr);
}

void TemplateService::parse_create_body(std::string body, std::shared_ptr<http::Exchange> ex) {
  if (parses_.size() >= kMaxParses)  // each holds a body of up to ~350 MB
    return reply_error(ex, Error(Errc::unavailable, fmt::format("{} build requests are being received; try again", parses_.size())));
  auto p = std::make_shared<BodyParse>();
  p->ex = std::move(ex);
  p->body = std::move(body);
  BodyParse* raw = p.get();
  p->done = std::make_unique<uv::Async>(loop_, [this, raw] {
    auto it = std::find_if(parses_.begin(), parses_.end(), [raw](const auto& q) { return q.get() == raw; });
    if (it == parses_.end()) return;
    std::shared_ptr<BodyParse> q = *it;
    parses_.erase(it);
    q->worker.join();
    if (!q->json || !q->json->is_object())
      return reply_error(q->ex, 400, "invalid_argument", "the body must be a JSON object");
    if (q->too_large)
      return reply_error(q->ex, Error(Errc::too_large, fmt::format("the build context is larger than {} MiB", kMaxContextBytes >> 20)));
    if (!q->context) return reply_error(q->ex, Error(Errc::invalid_argument, "field 'context' must be a base64 string (a tar)"));
    create(std::move(*q->json), std::move(*q->context), q->ex);
  });
  parses_.push_back(p);
  p->worker = std::thread([raw] {
    if (!raw->body.empty()) raw->json = parse_json(raw->body);
    std::string().swap(raw->body);
    raw->context = std::string();
    if (raw->json && raw->json->is_object())
      if (auto c = raw->json->find("context"); c != raw->json->end() && !c->is_null()) {
        if (!c->is_string()) {
          raw->context.reset();
        } else {
          const std::string& text = c->get_ref<const std::string&>();
          if (text.size() > (kMaxContextBytes / 3 + 1) * 4) raw->too_large = true;
          else raw->context = base64_decode(text);
        }
        raw->json->erase("context");
      }
    raw->done->send();
  });
}

void TemplateService::handle(const std::vector<std::string>& parts, std::shared_ptr<http::Exchange> ex) {
  const auto& method = ex->request().method;
  if (parts.size() == 3) {
    if (method == "POST") {
      // The context travels base64 in the JSON body: 4/3 of its bound, plus the Nexusfile.
      return ex->read_body(kMaxBuildBody, [this, ex](Result<std::string> body) {
        if (!body) return;  // the server answered 413, or the client went away
        parse_create_body(std::move(*body), ex);
      });
    }
    if (method != "GET") return reply_error(ex, 405, "method_not_allowed", "use GET or POST");
    // One read of the templates dir: seeded templates first, then any other built ones.
    std::map<std::string, rootfs::TemplateInfo> built;
    if (auto list = rootfs::list_templates(config_.templates_dir()))
      for (auto& t : *list) built.emplace(t.name, std::move(t));
    Json arr = Json::array();
    for (auto& def : rootfs::seeded_templates()) {
      auto it = built.find(def.name);
      arr.push_back(to_json(def.name, it == built.end() ? nullptr : &it->second));
      if (it != built.end()) built.erase(it);
    }
    for (auto& [n, info] : built) arr.push_back(to_json(n, &info));
    return reply_json(ex, 200, Json{{"templates", arr}});
  }
  const std::string& name = parts[3];
  if (parts.size() == 4) {
    if (method == "PATCH") return patch(name, std::move(ex));
    if (method == "DELETE") return remove(name, std::move(ex));
    if (method != "GET") return reply_error(ex, 405, "method_not_allowed", "use GET, PATCH or DELETE");
    auto d = describe(name);
    if (!d) return reply_error(ex, d.error());
    return reply_json(ex, 200, *d);
  }
  if (parts.size() == 5 && parts[4] == "build") {
    if (method != "POST") return reply_error(ex, 405, "method_not_allowed", "use POST");
    return start_build(name, std::move(ex));
  }
  reply_error(ex, 404, "not_found", fmt::format("no such endpoint '{}'", ex->request().path));
}

void TemplateService::start_build(const std::string& name, std::shared_ptr<http::Exchange> ex) {
  const auto* def = rootfs::find_seeded_template(name);
  if (!def)
    return reply_error(ex, Error(Errc::not_found, fmt::format("template '{}' is not a seeded template; build it from a Nexusfile "
                                                              "(POST /v1/templates, nexus template build {} -f FILE)", name, name)));
  if (auto it = running_.find(name); it != running_.end())  // one build per template: attach to it
    return reply_json(ex, 202, Json{{"build_id", it->second}, {"template", name}, {"attached", true}});
  if (auto busy = refuse_if_busy(name, "rebuilding"); !busy) return reply_error(ex, busy.error());
  auto plan = std::make_unique<BuildPlan>();
  plan->name = name;
  plan->config = config_;
  plan->seeded = *def;
  std::string id = start_job(name, seeded_build_steps(*def), std::move(plan), {});
  log::info(kLog, "build {}: seeded template '{}' (debian:{}, {} packages)", id, name, def->base.suite, def->base.packages.size());
  reply_json(ex, 202, Json{{"build_id", id}, {"template", name}});
}

Result<void> TemplateService::refuse_if_busy(const std::string& name, const char* doing) const {
  if (running_.count(name))
    return fail(Errc::conflict, fmt::format("template '{}' is being built; wait for the build to end", name));
  if (size_t n = users_ ? users_(name) : 0; n > 0)
    return fail(Errc::conflict, fmt::format("template '{}' is in use by {} sandbox{}; stop {} before {} it", name, n,
                                            n == 1 ? "" : "es", n == 1 ? "it" : "them", doing));
  return {};
}

void TemplateService::patch(const std::string& name, std::shared_ptr<http::Exchange> ex) {
  read_json_body(ex, [this, name, ex](Json body) {
    auto info = rootfs::read_template(config_.templates_dir(), name);
    if (!info) return reply_error(ex, info.error());
    auto it = body.find("defaults");
    if (it == body.end() || !it->is_object())
      return reply_error(ex, Error(Errc::invalid_argument, "field 'defaults' (an object) is required"));
    // Fields given replace the stored ones; null clears a field; env merges per key and a
    // null value removes the key.
    Json patch = *it;
    std::vector<std::string> cleared, unset_env;
    for (auto f = patch.begin(); f != patch.end();) {
      if (f->is_null()) {
        cleared.push_back(f.key());
        f = patch.erase(f);
      } else {
        ++f;
      }
    }
    if (auto e = patch.find("env"); e != patch.end() && e->is_object())
      for (auto v = e->begin(); v != e->end();) {
        if (v->is_null()) {
          unset_env.push_back(v.key());
          v = e->erase(v);
        } else {
          ++v;
        }
      }
    auto parsed = rootfs::template_defaults_from_json(patch);
    if (!parsed) return reply_error(ex, parsed.error());
    auto extras = read_template_extras(info->dir);
    if (!extras) return reply_error(ex, extras.error());
    Json merged = rootfs::to_json(extras->defaults);
    for (const auto& k : cleared) merged.erase(k);
    Json env = merged.value("env", Json::object());
    for (const auto& k : unset_env) env.erase(k);
    for (auto& [k, v] : patch.items())
      if (k != "env") merged[k] = v;
    Json patch_env = patch.value("env", Json::object());  // a named copy: items() refers to it
    for (auto& [k, v] : patch_env.items()) env[k] = v;
    merged["env"] = env;
    auto next = rootfs::template_defaults_from_json(merged);
    if (!next) return reply_error(ex, next.error());
    if (auto v = rootfs::validate(*next); !v) return reply_error(ex, v.error());
    extras->defaults = std::move(*next);
    if (auto w = write_template_extras(info->dir, *extras); !w) return reply_error(ex, w.error());
    log::info(kLog, "template '{}': defaults updated", name);
    reply_json(ex, 200, to_json(name, &*info));
  });
}

void TemplateService::remove(const std::string& name, std::shared_ptr<http::Exchange> ex) {
  if (auto busy = refuse_if_busy(name, "removing"); !busy) return reply_error(ex, busy.error());
  if (auto r = rootfs::remove_template(config_.templates_dir(), name); !r) return reply_error(ex, r.error());
  log::info(kLog, "removed template '{}'", name);
  reply_json(ex, 200, Json{{"removed", name}});
}

}  // namespace nexus::daemon
