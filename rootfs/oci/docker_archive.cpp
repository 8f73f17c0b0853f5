// SPDX-License-Identifier: Apache-2.0
#include "rootfs/oci/docker_archive.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <map>
#include <memory>
#include <set>

#include <fmt/format.h>

#include "common/json.hpp"
#include "common/strings.hpp"
#include "rootfs/oci/manifest.hpp"
#include "rootfs/oci/media_types.hpp"

namespace nexus::oci {

namespace {

constexpr uint64_t kMaxManifestJson = 1 << 20;

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveDeleter>;

Result<ArchivePtr> open_archive(const std::string& path) {
  ArchivePtr a(archive_read_new());
  NEXUS_CHECK(a != nullptr);
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_gnutar(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 16) != ARCHIVE_OK)
    return fail(Errc::invalid_argument, fmt::format("{}: {}", path, archive_error_string(a.get())));
  return a;
}

// "./a//b/../c" -> "a/c" (string operations only; ".." above the top is refused).
std::optional<std::string> normalize_name(std::string_view name) {
  std::vector<std::string> parts;
  for (const auto& p : split(name, '/')) {
    if (p.empty() || p == ".") continue;
    if (p == "..") {
      if (parts.empty()) return std::nullopt;
      parts.pop_back();
    } else {
      parts.push_back(p);
    }
  }
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "/") + p;
  return out;
}

// Read the current entry's data through `sink`.
template <class Sink>
Result<void> read_entry(archive* a, Sink&& sink) {
  std::string buf(1 << 16, '\0');
  for (;;) {
    la_ssize_t n = archive_read_data(a, buf.data(), buf.size());
    if (n < 0) return fail(Errc::invalid_argument, fmt::format("reading the archive: {}", archive_error_string(a)));
    if (n == 0) return {};
    NEXUS_TRY(sink(std::string_view(buf.data(), static_cast<size_t>(n))));
  }
}

struct ArchiveIndex {
  std::string config;
  std::vector<std::string> layers;
  std::map<std::string, std::string> symlinks;  // normalised name -> normalised target
};

Result<ArchiveIndex> read_index(const std::string& path) {
  auto a = open_archive(path);
  if (!a) return fail(std::move(a).error());
  ArchiveIndex idx;
  std::optional<std::string> manifest;
  archive_entry* e = nullptr;
  int rc;
  while ((rc = archive_read_next_header(a->get(), &e)) == ARCHIVE_OK) {
    auto name = normalize_name(archive_entry_pathname(e) ? archive_entry_pathname(e) : "");
    if (!name) continue;
    if (archive_entry_filetype(e) == AE_IFLNK && archive_entry_symlink(e)) {
      auto slash = name->rfind('/');
      std::string dir = slash == std::string::npos ? "" : name->substr(0, slash + 1);
      if (auto target = normalize_name(dir + archive_entry_symlink(e))) idx.symlinks[*name] = *target;
    } else if (*name == "manifest.json" && archive_entry_filetype(e) == AE_IFREG) {
      std::string text;
      NEXUS_TRY(read_entry(a->get(), [&](std::string_view chunk) -> Result<void> {
        if (text.size() + chunk.size() > kMaxManifestJson) return fail(Errc::too_large, "manifest.json is too large");
        text.append(chunk);
        return {};
      }));
      manifest = std::move(text);
    }
  }
  if (rc != ARCHIVE_EOF)
    return fail(Errc::invalid_argument, fmt::format("{}: {}", path, archive_error_string(a->get())));
  if (!manifest) return fail(Errc::invalid_argument, path + " has no manifest.json (not a docker save archive)");
  auto doc = parse_json(*manifest);
  if (!doc) return fail(std::move(doc).error().wrap("manifest.json"));
  if (!doc->is_array() || doc->empty() || !(*doc)[0].is_object())
    return fail(Errc::invalid_argument, "manifest.json must be a non-empty array of images");
  const Json& image = (*doc)[0];
  auto config = json_string(image, "Config");
  if (!config || config->empty()) return fail(Errc::invalid_argument, "manifest.json: 'Config' must be a string");
  auto layers = image.find("Layers");
  if (layers == image.end() || !layers->is_array() || layers->size() > limits::kMaxLayers)
    return fail(Errc::invalid_argument, "manifest.json: 'Layers' must be an array of file names");
  auto resolve = [&](const std::string& n) -> std::optional<std::string> {
    auto norm = normalize_name(n);
    for (int hops = 0; norm && hops < 8; ++hops) {
      auto it = idx.symlinks.find(*norm);
      if (it == idx.symlinks.end()) break;
      norm = it->second;
    }
    return norm;
  };
  auto c = resolve(*config);
  if (!c) return fail(Errc::invalid_argument, "manifest.json: bad 'Config' name");
  idx.config = *c;
  for (const auto& l : *layers) {
    auto n = l.is_string() ? resolve(l.get<std::string>()) : std::nullopt;
    if (!n) return fail(Errc::invalid_argument, "manifest.json: a layer name is not a valid file name");
    idx.layers.push_back(*n);
  }
  return idx;
}

// Stream every wanted entry into the store: name -> (digest, size).
Result<std::map<std::string, std::pair<Digest, uint64_t>>> ingest(const std::string& path,
                                                                  const std::set<std::string>& wanted,
                                                                  const ContentStore& store,
                                                                  const ProgressFn& progress) {
  auto a = open_archive(path);
  if (!a) return fail(std::move(a).error());
  std::map<std::string, std::pair<Digest, uint64_t>> out;
  archive_entry* e = nullptr;
  int rc;
  while ((rc = archive_read_next_header(a->get(), &e)) == ARCHIVE_OK) {
    auto name = normalize_name(archive_entry_pathname(e) ? archive_entry_pathname(e) : "");
    if (!name || !wanted.count(*name) || out.count(*name) || archive_entry_filetype(e) != AE_IFREG) continue;
    auto w = store.writer();
    if (!w) return fail(std::move(w).error());
    NEXUS_TRY(read_entry(a->get(), [&](std::string_view chunk) { return w->write(chunk); }));
    uint64_t size = w->offset();
    auto d = w->commit();
    if (!d) return fail(std::move(d).error());
    out[*name] = {*d, size};
    if (progress) progress({BlobProgress::Kind::layer, BlobProgress::State::done, *d, {}, size, size});
  }
  if (rc != ARCHIVE_EOF)
    return fail(Errc::invalid_argument, fmt::format("{}: {}", path, archive_error_string(a->get())));
  for (const auto& n : wanted)
    if (!out.count(n))
      return fail(Errc::invalid_argument, fmt::format("manifest.json names '{}', which the archive lacks", n));
  return out;
}

Result<std::string> layer_media_type(const ContentStore& store, const Digest& d) {
  auto fd = store.open(d);
  if (!fd) return fail(std::move(fd).error());
  unsigned char magic[4] = {};
  ssize_t n = ::read(fd->get(), magic, sizeof magic);
  if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) return std::string(media::kOciLayerGzip);
  if (n == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
    return std::string(media::kOciLayerZstd);
  return std::string(media::kOciLayer);
}

}  // namespace

Result<ImageRecord> import_docker_archive(const std::string& path, const ContentStore& store,
                                          const ProgressFn& progress) {
  auto wrap = [&](Error e) { return fail(std::move(e).wrap("importing docker-archive:" + path)); };
  auto idx = read_index(path);
  if (!idx) return wrap(idx.error());
  std::set<std::string> wanted(idx->layers.begin(), idx->layers.end());
  wanted.insert(idx->config);
  auto blobs = ingest(path, wanted, store, progress);
  if (!blobs) return wrap(blobs.error());

  ImageRecord rec;
  rec.reference = "docker-archive:" + path;
  const auto& [config_digest, config_size] = blobs->at(idx->config);
  auto config_text = store.read(config_digest, limits::kMaxConfigBytes);
  if (!config_text) return wrap(config_text.error());
  auto config = parse_image_config(*config_text);
  if (!config) return wrap(config.error());
  if (config->diff_ids.size() != idx->layers.size())
    return wrap(Error(Errc::protocol, fmt::format("the config lists {} layers, manifest.json {}",
                                                  config->diff_ids.size(), idx->layers.size())));
  ImageManifest m{
      std::string(media::kOciManifest), {std::string(media::kOciConfig), config_digest, config_size, {}, {}}, {}};
  for (size_t i = 0; i < idx->layers.size(); ++i) {
    const auto& [digest, size] = blobs->at(idx->layers[i]);
    auto type = layer_media_type(store, digest);
    if (!type) return wrap(type.error());
    if (*type == media::kOciLayer && digest != config->diff_ids[i])
      return wrap(Error(Errc::protocol, fmt::format("layer {} ({}) is {}, the config says {}", i, idx->layers[i],
                                                    digest.str(), config->diff_ids[i].str())));
    m.layers.push_back({*type, digest, size, {}, {}});
    rec.layers.push_back({digest, *type, size});
  }
  auto manifest_digest = store.put(manifest_json(m));
  if (!manifest_digest) return wrap(manifest_digest.error());
  rec.manifest_digest = *manifest_digest;
  rec.manifest_media_type = m.media_type;
  rec.config_digest = config_digest;
  rec.config = std::move(*config);
  return rec;
}

}  // namespace nexus::oci
