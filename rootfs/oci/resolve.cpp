// SPDX-License-Identifier: Apache-2.0
// resolve_image(): the walk from a root document to a complete image in the store.
#include <cerrno>
#include <mutex>
#include <thread>
#include <variant>

#include <fmt/format.h>

#include "rootfs/oci/image_source.hpp"
#include "rootfs/oci/media_types.hpp"

namespace nexus::oci {

namespace {

constexpr int kMaxIndexDepth = 2;  // an index may name one more index, no deeper

class Walk {
 public:
  Walk(ImageSource& src, const ResolveOptions& o, const ContentStore& s, const ProgressFn& p)
      : source_(src), options_(o), store_(s), progress_(p) {}

  void report(BlobProgress p) {
    if (!progress_) return;
    std::lock_guard lock(progress_mu_);
    progress_(p);
  }

  // Parse a fetched document and keep it in the store.
  Result<ParsedManifest> keep_document(const FetchedManifest& doc) {
    auto parsed = parse_manifest(doc.body, doc.content_type);
    if (!parsed) return fail(std::move(parsed).error().wrap(doc.digest.str()));
    auto stored = store_.put(doc.body);
    if (!stored) return fail(std::move(stored).error());
    report({BlobProgress::Kind::manifest, BlobProgress::State::done, doc.digest, doc.content_type, doc.body.size(),
            doc.body.size()});
    return parsed;
  }

  Result<void> fetch(const Descriptor& d, BlobProgress::Kind kind, const StopCheck& stop) {
    BlobProgress p{kind, BlobProgress::State::cached, d.digest, d.media_type, d.size, d.size};
    if (store_.has(d.digest)) {
      report(p);
      return {};
    }
    p.state = BlobProgress::State::started;
    p.done = 0;
    report(p);
    auto last = std::chrono::steady_clock::now() - std::chrono::seconds(1);
    auto on_bytes = [&](uint64_t done) {
      auto now = std::chrono::steady_clock::now();
      if (now - last < std::chrono::milliseconds(100)) return;
      last = now;
      p.state = BlobProgress::State::running;
      p.done = done;
      report(p);
    };
    NEXUS_TRY(source_.fetch_blob(d, store_, on_bytes, stop));
    p.state = BlobProgress::State::done;
    p.done = d.size;
    report(p);
    return {};
  }

  Result<void> fetch_layers(const std::vector<Descriptor>& layers) {
    std::vector<Descriptor> unique;
    for (const auto& l : layers) {
      bool seen = false;
      for (const auto& u : unique) seen |= u.digest == l.digest;
      if (!seen) unique.push_back(l);
    }
    std::atomic<size_t> next{0};
    std::atomic<bool> failed{false};
    std::optional<Error> first_error;
    std::mutex error_mu;
    StopCheck stop{options_.cancel, &failed};
    auto worker = [&] {
      for (;;) {
        size_t i = next++;
        if (i >= unique.size() || stop.stopped()) return;
        auto r = fetch(unique[i], BlobProgress::Kind::layer, stop);
        if (!r) {
          std::lock_guard lock(error_mu);
          if (!first_error) first_error = std::move(r).error().wrap(fmt::format("layer {}", i));
          failed = true;
          return;
        }
      }
    };
    size_t n = std::min(std::max<size_t>(1, options_.parallel_layers), unique.size());
    std::vector<std::thread> threads;
    for (size_t i = 1; i < n; ++i) threads.emplace_back(worker);
    worker();
    for (auto& t : threads) t.join();
    if (first_error) return fail(std::move(*first_error));
    if (options_.cancel && options_.cancel->load()) return fail(Error::from_errno(ECANCELED, "pull"));
    return {};
  }

  ImageSource& source_;
  const ResolveOptions& options_;
  const ContentStore& store_;
  const ProgressFn& progress_;
  std::mutex progress_mu_;
};

}  // namespace

Result<ImageRecord> resolve_image(ImageSource& source, std::string reference, const ResolveOptions& options,
                                  const ContentStore& store, const ProgressFn& progress) {
  Walk walk(source, options, store, progress);
  StopCheck stop{options.cancel, nullptr};
  ImageRecord rec;
  rec.reference = std::move(reference);

  auto doc = source.root(stop);
  if (!doc) return fail(std::move(doc).error());
  auto parsed = walk.keep_document(*doc);
  if (!parsed) return fail(std::move(parsed).error());
  for (int depth = 0; std::holds_alternative<ImageIndex>(*parsed); ++depth) {
    if (depth >= kMaxIndexDepth) return fail(Errc::invalid_argument, "indexes nested too deeply");
    if (!rec.index_digest) rec.index_digest = doc->digest;
    auto entry = select_platform(std::get<ImageIndex>(*parsed), options.platform);
    if (!entry) return fail(std::move(entry).error().wrap(rec.reference));
    doc = source.manifest(*entry, stop);
    if (!doc) return fail(std::move(doc).error());
    parsed = walk.keep_document(*doc);
    if (!parsed) return fail(std::move(parsed).error());
  }
  const auto& m = std::get<ImageManifest>(*parsed);
  rec.manifest_digest = doc->digest;
  rec.manifest_media_type = m.media_type;
  if (!media::is_config(m.config.media_type))
    return fail(Errc::invalid_argument, fmt::format("{} is not a container image (config media type '{}')",
                                                    rec.reference, m.config.media_type));

  NEXUS_TRY(walk.fetch(m.config, BlobProgress::Kind::config, stop));
  auto config_text = store.read(m.config.digest, limits::kMaxConfigBytes);
  if (!config_text) return fail(std::move(config_text).error());
  auto config = parse_image_config(*config_text);
  if (!config) return fail(std::move(config).error());
  rec.config_digest = m.config.digest;
  const Platform want = normalize(options.platform);
  if (!rec.index_digest && (config->platform.os != want.os || config->platform.architecture != want.architecture))
    return fail(Errc::not_found,
                fmt::format("{} is an image for {}, not for {}", rec.reference, config->platform.str(), want.str()));
  if (config->diff_ids.size() != m.layers.size())
    return fail(Errc::protocol,
                fmt::format("image config lists {} layers, the manifest {}", config->diff_ids.size(), m.layers.size()));
  rec.config = std::move(*config);

  NEXUS_TRY(walk.fetch_layers(m.layers));
  for (const auto& l : m.layers) rec.layers.push_back({l.digest, l.media_type, l.size});
  return rec;
}

}  // namespace nexus::oci
