// SPDX-License-Identifier: Apache-2.0
#include "rootfs/oci/pull.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "common/strings.hpp"
#include "rootfs/oci/docker_archive.hpp"
#include "rootfs/oci/image_source.hpp"
#include "rootfs/oci/oci_layout.hpp"
#include "rootfs/oci/reference.hpp"

namespace nexus::oci {

namespace {

class RegistrySource final : public ImageSource {
 public:
  RegistrySource(RegistryClient& client, Reference ref) : client_(client), ref_(std::move(ref)) {}

  Result<FetchedManifest> root(const StopCheck& stop) override {
    return client_.get_manifest(ref_.repository, ref_.manifest_ref(), stop);
  }

  Result<FetchedManifest> manifest(const Descriptor& d, const StopCheck& stop) override {
    auto doc = client_.get_manifest(ref_.repository, d.digest.str(), stop);
    if (doc && doc->body.size() != d.size)
      return fail(Errc::protocol,
                  fmt::format("manifest {} has {} bytes, the index says {}", d.digest.str(), doc->body.size(), d.size));
    return doc;
  }

  Result<void> fetch_blob(const Descriptor& d, const ContentStore& store, const std::function<void(uint64_t)>& on_bytes,
                          const StopCheck& stop) override {
    return client_.fetch_blob(ref_.repository, d, store, on_bytes, stop);
  }

 private:
  RegistryClient& client_;
  Reference ref_;
};

Result<ImageRecord> pull_from_registry(std::string_view text, const PullOptions& options, const ContentStore& store,
                                       const ProgressFn& progress) {
  auto ref = parse_reference(text);
  if (!ref) return fail(std::move(ref).error());
  RegistryOptions ro;
  ro.credential = options.credentials.find(ref->registry);
  const auto& insecure = options.insecure_registries;
  ro.plain_http =
      is_loopback_host(ref->registry) || std::find(insecure.begin(), insecure.end(), ref->registry) != insecure.end();
  ro.retry = options.retry;
  ro.limits = options.limits;
  RegistryClient client(ref->api_host(), std::move(ro));
  NEXUS_TRY(client.ping(StopCheck{options.cancel, nullptr}).map_error([&](Error e) {
    return std::move(e).wrap("pulling " + ref->str());
  }));
  RegistrySource source(client, *ref);
  ResolveOptions opts{options.platform, options.parallel_layers, options.cancel};
  auto rec = resolve_image(source, ref->str(), opts, store, progress);
  if (!rec) return fail(std::move(rec).error().wrap("pulling " + ref->str()));
  return rec;
}

}  // namespace

Result<ImageRecord> pull(std::string_view source, const PullOptions& options, const ContentStore& store,
                         const ProgressFn& progress) {
  if (starts_with(source, "oci:")) {
    LayoutImport li{options.platform, options.parallel_layers, options.cancel};
    return import_oci_layout(source.substr(4), li, store, progress);
  }
  if (starts_with(source, "docker-archive:"))
    return import_docker_archive(std::string(source.substr(15)), store, progress);
  return pull_from_registry(source, options, store, progress);
}

}  // namespace nexus::oci
