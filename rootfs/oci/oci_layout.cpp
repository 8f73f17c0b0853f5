// SPDX-License-Identifier: Apache-2.0
#include "rootfs/oci/oci_layout.hpp"

#include <sys/stat.h>

#include <variant>

#include <fmt/format.h>

#include "common/json.hpp"
#include "common/strings.hpp"
#include "rootfs/oci/fs_io.hpp"
#include "rootfs/oci/image_source.hpp"
#include "rootfs/oci/media_types.hpp"

namespace nexus::oci {

namespace {

constexpr const char* kRefName = "org.opencontainers.image.ref.name";

class LayoutSource final : public ImageSource {
 public:
  LayoutSource(std::string dir, std::string ref) : dir_(std::move(dir)), ref_(std::move(ref)) {}

  Result<FetchedManifest> root(const StopCheck&) override {
    auto marker = read_file_bounded(dir_ + "/oci-layout", 4096);
    if (!marker) return fail(std::move(marker).error().wrap(dir_ + " is not an OCI image layout"));
    auto version = parse_json(*marker);
    if (!version || !version->is_object() ||
        !starts_with(json_string(*version, "imageLayoutVersion").value_or(""), "1."))
      return fail(Errc::invalid_argument, dir_ + "/oci-layout: imageLayoutVersion must be 1.x");
    FetchedManifest index;
    auto text = read_file_bounded(dir_ + "/index.json", limits::kMaxManifestBytes);
    if (!text) return fail(std::move(text).error().wrap("OCI layout"));
    index.body = std::move(*text);
    index.content_type = std::string(media::kOciIndex);
    index.digest = sha256_of(index.body);
    auto parsed = parse_manifest(index.body, "");
    if (!parsed) return fail(std::move(parsed).error().wrap(dir_ + "/index.json"));
    if (!std::holds_alternative<ImageIndex>(*parsed))
      return fail(Errc::invalid_argument, dir_ + "/index.json is not an image index");
    const auto& entries = std::get<ImageIndex>(*parsed).manifests;
    std::string names;
    bool any_platform = false;
    for (const auto& e : entries) {
      auto it = e.annotations.find(kRefName);
      if (it != e.annotations.end()) {
        if (!ref_.empty() && it->second == ref_) return manifest(e, {});
        names += (names.empty() ? "" : ", ") + it->second;
      }
      any_platform |= e.platform.has_value();
    }
    if (!ref_.empty())
      return fail(Errc::not_found,
                  fmt::format("{} has no image named '{}' (it has: {})", dir_, ref_, names.empty() ? "none" : names));
    if (entries.size() == 1) return manifest(entries.front(), {});
    if (entries.empty()) return fail(Errc::not_found, dir_ + "/index.json lists no images");
    if (!any_platform)
      return fail(Errc::invalid_argument, fmt::format("{} holds {} images: name one as oci:{}:<ref> (refs: {})", dir_,
                                                      entries.size(), dir_, names.empty() ? "none" : names));
    return index;  // chosen between by platform
  }

  Result<FetchedManifest> manifest(const Descriptor& d, const StopCheck&) override {
    if (d.size > limits::kMaxManifestBytes)
      return fail(Errc::too_large, fmt::format("manifest {} is {} bytes, more than allowed", d.digest.str(), d.size));
    auto body = read_file_bounded(blob_path(d.digest), limits::kMaxManifestBytes);
    if (!body) return fail(std::move(body).error().wrap("OCI layout"));
    FetchedManifest out{std::move(*body), d.media_type, {}};
    out.digest = sha256_of(out.body);
    if (out.digest != d.digest || out.body.size() != d.size)
      return fail(Errc::protocol, fmt::format("OCI layout: blob {} does not match its digest or size", d.digest.str()));
    return out;
  }

  Result<void> fetch_blob(const Descriptor& d, const ContentStore& store, const std::function<void(uint64_t)>& on_bytes,
                          const StopCheck& stop) override {
    if (store.has(d.digest)) return {};
    auto in = open_read(blob_path(d.digest));
    if (!in) return fail(std::move(in).error().wrap("OCI layout"));
    auto w = store.writer(d.digest, d.size);
    if (!w) return fail(std::move(w).error());
    NEXUS_TRY(w->restart());  // a local copy is cheaper to redo than to resume
    auto copied = read_chunks(in->get(), [&](std::string_view chunk) -> Result<void> {
      if (stop.stopped()) return fail(Error::from_errno(ECANCELED, "import"));
      NEXUS_TRY(w->write(chunk));
      if (on_bytes) on_bytes(w->offset());
      return {};
    });
    if (!copied) return fail(std::move(copied).error().wrap("OCI layout blob " + d.digest.str()));
    auto c = w->commit();
    if (!c) return fail(std::move(c).error().wrap("OCI layout blob " + d.digest.str()));
    return {};
  }

 private:
  std::string blob_path(const Digest& d) const { return dir_ + "/blobs/sha256/" + d.hex(); }
  std::string dir_, ref_;
};

bool is_dir(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

Result<ImageRecord> import_oci_layout(std::string_view spec, const LayoutImport& options, const ContentStore& store,
                                      const ProgressFn& progress) {
  std::string dir(spec), ref;
  if (!is_dir(dir)) {
    auto colon = spec.rfind(':');
    auto slash = spec.rfind('/');
    if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
      dir = std::string(spec.substr(0, colon));
      ref = std::string(spec.substr(colon + 1));
    }
  }
  if (!is_dir(dir)) return fail(Errc::not_found, fmt::format("OCI layout directory '{}' does not exist", dir));
  LayoutSource source(dir, ref);
  ResolveOptions opts{options.platform, options.parallel_layers, options.cancel};
  auto rec = resolve_image(source, "oci:" + std::string(spec), opts, store, progress);
  if (!rec) return fail(std::move(rec).error().wrap(fmt::format("importing oci:{}", spec)));
  return rec;
}

}  // namespace nexus::oci
