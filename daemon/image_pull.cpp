// SPDX-License-Identifier: Apache-2.0
// Pull into the content store, then unpack the layers (see image_pull.hpp).
#include "daemon/image_pull.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <stdio.h>

#include <chrono>
#include <cstdint>
#include <utility>
#include <variant>

#include <fmt/format.h>

#include "rootfs/fs_util.hpp"
#include "rootfs/oci/auth.hpp"
#include "rootfs/oci/content_store.hpp"
#include "rootfs/oci/manifest.hpp"
#include "rootfs/oci/media_types.hpp"
#include "rootfs/oci/pull.hpp"

namespace nexus::daemon {
namespace {

const char* kind_name(oci::BlobProgress::Kind k) {
  switch (k) {
    case oci::BlobProgress::Kind::manifest: return "manifest";
    case oci::BlobProgress::Kind::config: return "config";
    case oci::BlobProgress::Kind::layer: return "layer";
  }
  return "layer";
}

const char* state_name(oci::BlobProgress::State s) {
  switch (s) {
    case oci::BlobProgress::State::started: return "started";
    case oci::BlobProgress::State::running: return "running";
    case oci::BlobProgress::State::done: return "done";
    case oci::BlobProgress::State::cached: return "cached";
  }
  return "running";
}

/// The "resolved" event for a manifest just stored, or null for an index.
Json resolved_event(const oci::ContentStore& store, const oci::Digest& d, const std::string& reference) {
  auto body = store.read(d, oci::limits::kMaxManifestBytes);
  if (!body) return nullptr;
  auto parsed = oci::parse_manifest(*body);
  if (!parsed || !std::holds_alternative<oci::ImageManifest>(*parsed)) return nullptr;
  const auto& m = std::get<oci::ImageManifest>(*parsed);
  Json layers = Json::array();
  uint64_t total = 0;
  for (const auto& l : m.layers) {
    layers.push_back({{"digest", l.digest.str()}, {"size", l.size}, {"media_type", l.media_type}});
    total += l.size;
  }
  return Json{{"type", "resolved"}, {"reference", reference}, {"manifest", d.str()},
              {"config", m.config.digest.str()}, {"layers", layers}, {"size", total}};
}

Result<bool> unpack(const oci::ContentStore& store, const oci::ImageRecord& rec, const ImagePullSpec& spec,
                    const std::string& final_dir, const PullEventFn& emit) {
  if (auto there = rootfs::path_exists(final_dir); !there) return fail(std::move(there).error());
  else if (*there) return false;  // unpacked by an earlier pull: the rename made it complete
  std::string images_dir = spec.root_dir + "/images";
  NEXUS_TRY(rootfs::make_dirs(images_dir, 0711));
  auto tmp = rootfs::make_temp_dir(images_dir, ".tmp-");
  if (!tmp) return fail(std::move(tmp).error());
  auto cleanup = [&] { (void)rootfs::remove_tree(*tmp); };  // best effort; startup retries
  std::string tree = *tmp + "/rootfs";
  if (::mkdir(tree.c_str(), 0755) != 0) {
    auto e = Error::from_errno(errno, fmt::format("creating '{}'", tree));
    cleanup();
    return fail(std::move(e));
  }
  std::vector<rootfs::layer::LayerBlob> blobs;
  for (const auto& l : rec.layers) blobs.push_back({store.path(l.digest), l.media_type, l.digest.str()});
  rootfs::layer::ApplyOptions opt;
  opt.id_shift = spec.shift;
  auto last = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  std::pair<size_t, uint64_t> last_sent{SIZE_MAX, 0};  // (layer, bytes): the end is reported twice
  opt.progress = [&](const rootfs::layer::Progress& p) {
    auto now = std::chrono::steady_clock::now();
    bool edge = p.compressed_read == 0 || p.compressed_read == p.compressed_total;
    if (!edge && now - last < std::chrono::milliseconds(100)) return;
    if (last_sent == std::pair{p.layer, p.compressed_read}) return;
    last_sent = {p.layer, p.compressed_read};
    last = now;
    emit(Json{{"type", "unpack"}, {"layer", p.layer}, {"layers", p.layers}, {"digest", std::string(p.digest)},
              {"done", p.compressed_read}, {"total", p.compressed_total}});
  };
  auto applied = rootfs::layer::apply_layers(blobs, tree, opt);
  if (!applied) {
    cleanup();
    return fail(std::move(applied).error().wrap("unpacking " + rec.reference));
  }
  if (::rename(tmp->c_str(), final_dir.c_str()) != 0) {
    int err = errno;
    cleanup();
    // Another pull of the same manifest (under another name) finished first: same content.
    if (err == EEXIST || err == ENOTEMPTY) return false;
    return fail(Error::from_errno(err, fmt::format("renaming '{}' to '{}'", *tmp, final_dir)));
  }
  (void)rootfs::fsync_dir(images_dir);  // the tree is complete either way; durability is best effort
  return true;
}

}  // namespace

std::string image_tree_dir(const std::string& root_dir, const std::string& manifest_digest) {
  std::string hex = manifest_digest.rfind("sha256:", 0) == 0 ? manifest_digest.substr(7) : manifest_digest;
  return root_dir + "/images/" + hex;
}

Result<PulledImage> pull_image(const ImagePullSpec& spec, const std::atomic<bool>* cancel, const PullEventFn& emit) {
  auto store = oci::ContentStore::at(spec.root_dir);
  if (!store) return fail(std::move(store).error().wrap("opening the content store"));
  oci::PullOptions opt;
  opt.platform = spec.platform;
  opt.insecure_registries = spec.insecure_registries;
  opt.cancel = cancel;
  if (!spec.credentials_file.empty()) {
    auto creds = oci::Credentials::load(spec.credentials_file);
    if (!creds) return fail(std::move(creds).error().wrap("reading registry credentials"));
    opt.credentials = std::move(*creds);
  }
  bool resolved = false;
  auto rec = oci::pull(spec.reference, opt, *store, [&](const oci::BlobProgress& p) {
    bool finished = p.state == oci::BlobProgress::State::done || p.state == oci::BlobProgress::State::cached;
    if (p.kind == oci::BlobProgress::Kind::manifest) {
      if (finished && !resolved) {
        Json ev = resolved_event(*store, p.digest, spec.reference);
        if (!ev.is_null()) {
          resolved = true;
          emit(std::move(ev));
        }
      }
      return;
    }
    emit(Json{{"type", "progress"}, {"kind", kind_name(p.kind)}, {"digest", p.digest.str()},
              {"state", state_name(p.state)}, {"done", p.done}, {"total", p.total}});
  });
  if (!rec) return fail(std::move(rec).error());
  PulledImage out;
  for (const auto& l : rec->layers) out.size += l.size;
  std::string dir = image_tree_dir(spec.root_dir, rec->manifest_digest.str());
  auto fresh = unpack(*store, *rec, spec, dir, emit);
  if (!fresh) return fail(std::move(fresh).error());
  out.unpacked_now = *fresh;
  out.rootfs = dir + "/rootfs";
  out.record = std::move(*rec);
  return out;
}

void clean_image_temporaries(const std::string& root_dir) {
  std::string dir = root_dir + "/images";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> stale;
  while (dirent* e = ::readdir(d))
    if (std::string_view(e->d_name).rfind(".tmp-", 0) == 0) stale.push_back(dir + "/" + e->d_name);
  ::closedir(d);
  for (auto& p : stale) (void)rootfs::remove_tree(p);  // best effort: retried at the next start
}

}  // namespace nexus::daemon
