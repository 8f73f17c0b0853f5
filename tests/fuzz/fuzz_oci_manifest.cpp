// SPDX-License-Identifier: Apache-2.0
// Fuzz what a registry or an OCI layout hands us before anything is downloaded: manifests and
// indexes, image configs, references and digests.
//
// Input: the first line is a Content-Type (may be empty), also parsed as a reference and a
// digest; the rest is the document, parsed both as a manifest and as an image config.
#include <string>
#include <string_view>
#include <variant>

#include "rootfs/oci/digest.hpp"
#include "rootfs/oci/image_config.hpp"
#include "rootfs/oci/manifest.hpp"
#include "rootfs/oci/media_types.hpp"
#include "rootfs/oci/reference.hpp"
#include "tests/fuzz/fuzz.hpp"

namespace oci = nexus::oci;

namespace {

void check_descriptor(const oci::Descriptor& d) {
  FUZZ_CHECK(!d.media_type.empty());
  auto again = oci::parse_digest(d.digest.str());  // only well-formed digests get through
  FUZZ_CHECK(again && again->str() == d.digest.str());
}

void check_manifest(const oci::ImageManifest& m) {
  check_descriptor(m.config);
  FUZZ_CHECK(m.layers.size() <= oci::limits::kMaxLayers);
  for (const auto& l : m.layers) check_descriptor(l);
  // What we write for docker-save imports parses back to the same manifest.
  std::string text = oci::manifest_json(m);
  auto back = oci::parse_manifest(text);
  FUZZ_CHECK(back && std::holds_alternative<oci::ImageManifest>(*back));
  FUZZ_CHECK(oci::manifest_json(std::get<oci::ImageManifest>(*back)) == text);
}

void check_index(const oci::ImageIndex& idx) {
  FUZZ_CHECK(idx.manifests.size() <= oci::limits::kMaxIndexEntries);
  for (const auto& d : idx.manifests) check_descriptor(d);
  oci::Platform want;
  want.os = "linux";
  want.architecture = "amd64";
  auto picked = oci::select_platform(idx, want);
  if (picked) {
    bool found = false;
    for (const auto& d : idx.manifests) found = found || d.digest.str() == picked->digest.str();
    FUZZ_CHECK(found);
  } else {
    FUZZ_CHECK(picked.error().is(nexus::Errc::not_found) || picked.error().is(nexus::Errc::invalid_argument));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input = nexus::fuzz::as_view(data, size);
  size_t nl = input.find('\n');
  std::string_view first = input.substr(0, nl);
  std::string_view body = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);

  if (auto m = oci::parse_manifest(body, first)) {
    if (auto* im = std::get_if<oci::ImageManifest>(&*m)) check_manifest(*im);
    else check_index(std::get<oci::ImageIndex>(*m));
  } else {
    FUZZ_CHECK(!m.error().message().empty());
  }

  if (auto c = oci::parse_image_config(body)) {
    for (const auto& d : c->diff_ids) FUZZ_CHECK(oci::parse_digest(d.str()).has_value());
    auto back = oci::image_config_from_json(oci::image_config_to_json(*c));
    FUZZ_CHECK(back && oci::image_config_to_json(*back) == oci::image_config_to_json(*c));
  }

  if (auto r = oci::parse_reference(first)) {
    FUZZ_CHECK(!r->registry.empty() && !r->repository.empty());
    auto again = oci::parse_reference(r->str());  // the canonical form is stable
    FUZZ_CHECK(again && again->str() == r->str());
  }
  if (auto d = oci::parse_digest(first)) FUZZ_CHECK(d->str().size() == 7 + 64);
  return 0;
}
