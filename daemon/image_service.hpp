// SPDX-License-Identifier: Apache-2.0
// ImageService: the /v1/images endpoints (docs/api.md). Pulls run on worker threads, one per
// reference and platform (a second request for the same one watches the first), at most 4 at
// once (more wait their turn), and stream their events to every watcher. `rm` and the garbage
// collection of blobs and unpacked trees that no image needs run on a worker too, never while
// a pull runs (a pull's blobs are in no record yet, so gc must not see them).
//
// Thread affinity: the daemon loop thread. Workers only touch their job's mutex-guarded
// fields and wake the loop with uv::Async.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/http.hpp"
#include "common/json.hpp"
#include "common/result.hpp"
#include "common/uv.hpp"
#include "daemon/store.hpp"

namespace nexus::daemon {

struct ImageServiceOptions {
  std::string root_dir;                          ///< blobs/ and images/ go here
  std::string credentials_file;                  ///< registries.json, read at each pull; "" for none
  std::vector<std::string> insecure_registries;  ///< host[:port] spoken to over plain http
  uint32_t uid_base = 100000;                    ///< the jail's id shift (as templates use)
  uint32_t uid_count = 65536;
};

class ImageService {
 public:
  ImageService(uv::Loop& loop, Store& store, ImageServiceOptions options);
  ~ImageService();  ///< cancels running pulls and waits for the workers
  ImageService(const ImageService&) = delete;
  ImageService& operator=(const ImageService&) = delete;

  /// parts: the split path, e.g. ["", "v1", "images", "pull"].
  void handle(const std::vector<std::string>& parts, std::shared_ptr<http::Exchange> ex);

  /// The stored images a reference ("debian:12", canonical or not) or a manifest digest
  /// (full, or a prefix of at least 12 hex digits) names. not_found when none,
  /// invalid_argument for a bad reference, conflict for an ambiguous prefix.
  Result<std::vector<ImageRow>> find(const std::string& ref_or_digest);
  /// The API form of an image (the record plus size, pulled_at, rootfs).
  Json to_json(const ImageRow& row) const;

 private:
  struct PullJob;
  struct Maintenance;
  void start_pull(Json body, std::shared_ptr<http::Exchange> ex);
  void launch(PullJob& job);
  void pump(PullJob& job);
  void remove(const std::string& what, std::shared_ptr<http::Exchange> ex);
  void queue_gc(std::function<void(Result<Json>)> done);
  void schedule();

  uv::Loop& loop_;
  Store& store_;
  ImageServiceOptions options_;
  std::map<std::string, std::shared_ptr<PullJob>> pulls_;  // by reference + platform
  std::deque<std::function<void(Result<Json>)>> gc_waiting_;
  std::unique_ptr<Maintenance> gc_;  // the running gc, if any
};

}  // namespace nexus::daemon
