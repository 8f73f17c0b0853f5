// SPDX-License-Identifier: Apache-2.0
// The images endpoints: pull jobs, list, inspect, rm and the blob/tree garbage collection.
#include "daemon/image_service.hpp"

#include <dirent.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "common/log.hpp"
#include "common/strings.hpp"
#include "daemon/api_util.hpp"
#include "daemon/image_pull.hpp"
#include "rootfs/fs_util.hpp"
#include "rootfs/oci/content_store.hpp"
#include "rootfs/oci/reference.hpp"

namespace nexus::daemon {
namespace {

constexpr const char* kLog = "daemon.image";
constexpr size_t kWatcherHighWater = 1 * 1024 * 1024;  // a slow watcher misses progress events past this
constexpr size_t kMinDigestPrefix = 12;
constexpr size_t kMaxRunningPulls = 4;  // each has up to PullOptions::parallel_layers downloads; more wait

bool is_hex(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

Json error_event(const Error& e) {
  return Json{{"type", "error"}, {"code", api_code_for(e)}, {"message", e.message()}};
}

/// Worker side of gc: drop unpacked trees of manifests no image has, then unreferenced blobs.
Result<Json> collect_garbage(const std::string& root, const std::set<oci::Digest>& keep_blobs,
                             const std::set<std::string>& keep_trees) {
  size_t trees = 0;
  std::string dir = root + "/images";
  std::vector<std::string> doomed;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      bool tree = name.size() == 64 && is_hex(name) && !keep_trees.count(name);
      if (tree || name.rfind(".tmp-", 0) == 0) doomed.push_back(name);  // no pull runs now
    }
    ::closedir(d);
  }
  for (const auto& name : doomed) {
    NEXUS_TRY(rootfs::remove_tree(dir + "/" + name).map_error([&](Error e) {
      return std::move(e).wrap("removing the unpacked image " + name);
    }));
    trees += name.size() == 64;
  }
  auto store = oci::ContentStore::at(root);
  if (!store) return fail(std::move(store).error().wrap("opening the content store"));
  auto stats = store->gc(keep_blobs);
  if (!stats) return fail(std::move(stats).error().wrap("collecting unused blobs"));
  return Json{{"trees_removed", trees}, {"blobs_removed", stats->blobs_removed}, {"bytes_freed", stats->bytes_removed}};
}

}  // namespace

struct ImageService::PullJob {
  std::string key;
  ImagePullSpec spec;
  std::thread worker;
  std::unique_ptr<uv::Async> wake;
  std::atomic<bool> cancel{false};
  bool started = false;  // loop thread
  Json resolved;         // loop thread: replayed to watchers that attach later
  std::vector<std::shared_ptr<http::Exchange>> watchers;  // loop thread
  std::mutex mu;
  std::vector<Json> pending;                      // guarded by mu
  bool finished = false;                          // guarded by mu
  Result<PulledImage> result = fail(Errc::internal, "the pull did not finish");  // guarded by mu
};

struct ImageService::Maintenance {
  std::thread worker;
  std::unique_ptr<uv::Async> wake;
  std::vector<std::function<void(Result<Json>)>> done;  // loop thread
  std::mutex mu;
  bool finished = false;                                  // guarded by mu
  Result<Json> result = fail(Errc::internal, "gc did not finish");  // guarded by mu
};

ImageService::ImageService(uv::Loop& loop, Store& store, ImageServiceOptions options)
    : loop_(loop), store_(store), options_(std::move(options)) {
  clean_image_temporaries(options_.root_dir);
}

ImageService::~ImageService() {
  for (auto& [key, job] : pulls_) job->cancel = true;
  for (auto& [key, job] : pulls_)
    if (job->worker.joinable()) job->worker.join();
  if (gc_ && gc_->worker.joinable()) gc_->worker.join();
}

Json ImageService::to_json(const ImageRow& row) const {
  auto rec = parse_json(row.record_json);
  Json j = rec && rec->is_object() ? *rec : Json::object();
  j["reference"] = row.reference;
  j["manifest_digest"] = row.manifest_digest;
  j["config_digest"] = row.config_digest;
  j["size"] = row.size;
  j["pulled_at"] = format_rfc3339_ms(row.pulled_at_ms);
  j["rootfs"] = image_tree_dir(options_.root_dir, row.manifest_digest) + "/rootfs";
  return j;
}

Result<std::vector<ImageRow>> ImageService::find(const std::string& what) {
  auto rows = store_.list_images();
  if (!rows) return fail(std::move(rows).error());
  std::string hex = what.rfind("sha256:", 0) == 0 ? what.substr(7) : what;
  std::vector<ImageRow> out;
  if (hex.size() >= kMinDigestPrefix && hex.size() <= 64 && is_hex(hex)) {
    std::set<std::string> manifests;
    for (auto& r : *rows)
      if (r.manifest_digest.compare(7, hex.size(), hex) == 0) {
        manifests.insert(r.manifest_digest);
        out.push_back(r);
      }
    if (manifests.size() > 1)
      return fail(Errc::conflict, fmt::format("'{}' matches {} images; give more of the digest", what, manifests.size()));
    if (!out.empty() || what.rfind("sha256:", 0) == 0) {
      if (out.empty()) return fail(Errc::not_found, fmt::format("no image with digest '{}'", what));
      return out;
    }
  }
  auto ref = oci::parse_reference(what);
  if (!ref) return fail(std::move(ref).error());
  std::string canonical = ref->str();
  for (auto& r : *rows)
    if (r.reference == canonical) out.push_back(r);
  if (out.empty()) return fail(Errc::not_found, fmt::format("image '{}' not found (nexus image pull {})", canonical, what));
  return out;
}

void ImageService::handle(const std::vector<std::string>& parts, std::shared_ptr<http::Exchange> ex) {
  const auto& method = ex->request().method;
  if (parts.size() == 3) {
    if (method != "GET") return reply_error(ex, 405, "method_not_allowed", "use GET");
    auto rows = store_.list_images();
    if (!rows) return reply_error(ex, rows.error());
    Json arr = Json::array();
    for (auto& r : *rows) arr.push_back(to_json(r));
    return reply_json(ex, 200, Json{{"images", arr}});
  }
  if (parts.size() == 4 && parts[3] == "pull" && method == "POST")
    return read_json_body(ex, [this, ex](Json body) { start_pull(std::move(body), ex); });
  // The rest of the path is the reference or digest, percent-encoded or not ("a%2Fb:1", "a/b:1").
  std::string joined = parts[3];
  for (size_t i = 4; i < parts.size(); ++i) joined += "/" + parts[i];
  auto what = url_decode(joined);
  if (!what || what->empty() || what->size() > 1024)
    return reply_error(ex, Error(Errc::invalid_argument, "bad image reference in the path"));
  if (method == "GET") {
    auto found = find(*what);
    if (!found) return reply_error(ex, found.error());
    Json j = to_json(found->front());
    Json refs = Json::array();
    for (auto& r : *found) refs.push_back(r.reference);
    j["references"] = refs;
    return reply_json(ex, 200, j);
  }
  if (method == "DELETE") return remove(*what, std::move(ex));
  reply_error(ex, 405, "method_not_allowed", "use GET or DELETE (POST /v1/images/pull to pull)");
}

void ImageService::start_pull(Json body, std::shared_ptr<http::Exchange> ex) {
  auto text = json_string(body, "reference");
  auto platform_text = json_string(body, "platform");
  for (auto* e : {text ? nullptr : &text.error(), platform_text ? nullptr : &platform_text.error()})
    if (e) return reply_error(ex, *e);
  if (text->empty()) return reply_error(ex, Error(Errc::invalid_argument, "field 'reference' is required"));
  // Only registry references: oci:/docker-archive: sources would read host files as root.
  auto ref = oci::parse_reference(*text);
  if (!ref) return reply_error(ex, ref.error());
  ImagePullSpec spec;
  spec.reference = ref->str();
  if (!platform_text->empty()) {
    auto p = oci::parse_platform(*platform_text);
    if (!p) return reply_error(ex, p.error());
    spec.platform = *p;
  } else {
    spec.platform = oci::host_platform();
  }
  spec.credentials_file = options_.credentials_file;
  spec.insecure_registries = options_.insecure_registries;
  spec.root_dir = options_.root_dir;
  spec.shift = {options_.uid_base, options_.uid_count};
  std::string key = spec.reference + " " + spec.platform.str();

  http::Headers h;
  h.set("Content-Type", "application/x-ndjson");
  h.set("Cache-Control", "no-store");
  ex->start(200, std::move(h));
  if (auto it = pulls_.find(key); it != pulls_.end()) {  // watch the pull already running
    PullJob& job = *it->second;
    ex->write(dump_json(Json{{"type", "attached"}, {"reference", spec.reference}}) + "\n");
    if (!job.resolved.is_null()) ex->write(dump_json(job.resolved) + "\n");
    job.watchers.push_back(ex);
    return;
  }
  auto job = std::make_shared<PullJob>();
  job->key = key;
  job->spec = std::move(spec);
  job->watchers.push_back(ex);
  PullJob* raw = job.get();
  job->wake = std::make_unique<uv::Async>(loop_, [this, raw] { pump(*raw); });
  pulls_[key] = job;
  schedule();
}

void ImageService::launch(PullJob& job) {
  job.started = true;
  log::info(kLog, "pulling '{}' for {}", job.spec.reference, job.spec.platform.str());
  PullJob* raw = &job;
  job.worker = std::thread([raw] {
    auto emit = [raw](Json ev) {
      {
        std::lock_guard lock(raw->mu);
        raw->pending.push_back(std::move(ev));
      }
      raw->wake->send();
    };
    auto r = pull_image(raw->spec, &raw->cancel, emit);
    {
      std::lock_guard lock(raw->mu);
      raw->result = std::move(r);
      raw->finished = true;
    }
    raw->wake->send();
  });
}

void ImageService::pump(PullJob& job) {
  auto it = pulls_.find(job.key);
  if (it == pulls_.end() || it->second.get() != &job) return;
  std::shared_ptr<PullJob> keep = it->second;  // outlives the erase below
  std::vector<Json> events;
  bool finished;
  {
    std::lock_guard lock(job.mu);
    events.swap(job.pending);
    finished = job.finished;
  }
  std::erase_if(job.watchers, [](const auto& w) { return w->aborted(); });
  if (finished) {
    Json last;
    if (job.result) {
      ImageRow row;
      const auto& img = *job.result;
      row.reference = job.spec.reference;
      row.manifest_digest = img.record.manifest_digest.str();
      row.config_digest = img.record.config_digest.str();
      row.size = static_cast<int64_t>(img.size);
      row.pulled_at_ms = unix_now_ms();
      row.record_json = dump_json(oci::image_record_to_json(img.record));
      if (auto stored = store_.put_image(row); !stored) {
        job.result = fail(std::move(stored).error().wrap("recording the image"));
      } else {
        last = Json{{"type", "done"}, {"image", to_json(row)}};
        log::info(kLog, "pulled '{}' ({})", row.reference, row.manifest_digest);
      }
    }
    if (!job.result) {
      log::error(kLog, "pulling '{}': {}", job.spec.reference, job.result.error().message());
      last = error_event(job.result.error());
    }
    events.push_back(std::move(last));
  }
  for (auto& ev : events) {
    std::string type = ev.value("type", "");
    if (type == "resolved") job.resolved = ev;
    bool lossy = type == "progress" || type == "unpack";
    std::string line = dump_json(ev) + "\n";
    for (auto& w : job.watchers)
      if (!lossy || w->pending_bytes() < kWatcherHighWater) w->write(line);
  }
  if (!finished) return;
  for (auto& w : job.watchers) w->finish();
  job.watchers.clear();
  if (job.worker.joinable()) job.worker.join();
  pulls_.erase(job.key);
  schedule();
}

void ImageService::remove(const std::string& what, std::shared_ptr<http::Exchange> ex) {
  auto found = find(what);
  if (!found) return reply_error(ex, found.error());
  Json removed = Json::array();
  for (auto& r : *found) {
    auto gone = store_.delete_image(r.reference);
    if (!gone) return reply_error(ex, gone.error());
    removed.push_back(r.reference);
    log::info(kLog, "removed image '{}'", r.reference);
  }
  queue_gc([ex, removed](Result<Json> gc) {
    if (!gc) return reply_error(ex, std::move(gc).error().wrap("image removed, but"));
    reply_json(ex, 200, Json{{"removed", removed}, {"gc", *gc}});
  });
}

void ImageService::queue_gc(std::function<void(Result<Json>)> done) {
  gc_waiting_.push_back(std::move(done));
  schedule();
}

void ImageService::schedule() {
  if (gc_) return;  // pulls wait for the running gc
  if (!gc_waiting_.empty()) {
    for (auto& [key, job] : pulls_)
      if (job->started) return;  // gc starts once the running pulls end; new ones wait for it
    std::set<oci::Digest> keep_blobs;
    std::set<std::string> keep_trees;
    auto rows = store_.list_images();
    Result<void> ok;
    if (!rows) ok = fail(std::move(rows).error());
    for (size_t i = 0; ok && i < rows->size(); ++i) {
      const ImageRow& r = (*rows)[i];
      auto j = parse_json(r.record_json);
      auto rec = j ? oci::image_record_from_json(*j) : Result<oci::ImageRecord>(fail(j.error()));
      if (!rec) {  // keep everything rather than guess what a broken record needs
        ok = fail(std::move(rec).error().wrap("reading the record of '" + r.reference + "'"));
        break;
      }
      auto b = rec->blobs();
      keep_blobs.insert(b.begin(), b.end());
      keep_trees.insert(rec->manifest_digest.hex());
    }
    auto waiting = std::move(gc_waiting_);
    gc_waiting_.clear();
    if (!ok) {
      for (auto& w : waiting) w(fail(ok.error()));
      return schedule();
    }
    gc_ = std::make_unique<Maintenance>();
    gc_->done.assign(std::make_move_iterator(waiting.begin()), std::make_move_iterator(waiting.end()));
    Maintenance* raw = gc_.get();
    gc_->wake = std::make_unique<uv::Async>(loop_, [this, raw] {
      {
        std::lock_guard lock(raw->mu);
        if (!raw->finished) return;
      }
      raw->worker.join();
      std::unique_ptr<Maintenance> done = std::move(gc_);
      if (done->result) log::info(kLog, "gc: {}", dump_json(*done->result));
      else log::error(kLog, "gc: {}", done->result.error().message());
      for (auto& w : done->done) w(done->result);
      schedule();
      // `done` (and this Async) go now: uv::Async runs a copy of its callback, so that is safe.
    });
    gc_->worker = std::thread([raw, root = options_.root_dir, keep_blobs = std::move(keep_blobs),
                               keep_trees = std::move(keep_trees)] {
      auto r = collect_garbage(root, keep_blobs, keep_trees);
      {
        std::lock_guard lock(raw->mu);
        raw->result = std::move(r);
        raw->finished = true;
      }
      raw->wake->send();
    });
    return;
  }
  size_t running = 0;
  for (auto& [key, job] : pulls_) running += job->started;
  for (auto& [key, job] : pulls_)
    if (!job->started && running < kMaxRunningPulls) {
      launch(*job);
      ++running;
    }
}

}  // namespace nexus::daemon
