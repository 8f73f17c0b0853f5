// SPDX-License-Identifier: Apache-2.0
#include "rootfs/oci/image_record.hpp"

#include <fmt/format.h>

namespace nexus::oci {

std::set<Digest> ImageRecord::blobs() const {
  std::set<Digest> out{manifest_digest, config_digest};
  if (index_digest) out.insert(*index_digest);
  for (const auto& l : layers) out.insert(l.digest);
  return out;
}

Json image_record_to_json(const ImageRecord& r) {
  Json layers = Json::array();
  for (const auto& l : r.layers)
    layers.push_back({{"digest", l.digest.str()}, {"media_type", l.media_type}, {"size", l.size}});
  Json j{{"reference", r.reference},
         {"manifest_digest", r.manifest_digest.str()},
         {"manifest_media_type", r.manifest_media_type},
         {"config_digest", r.config_digest.str()},
         {"layers", layers},
         {"config", image_config_to_json(r.config)}};
  j["index_digest"] = r.index_digest ? Json(r.index_digest->str()) : Json(nullptr);
  return j;
}

namespace {

Result<Digest> digest_field(const Json& j, const char* key) {
  auto text = json_string(j, key);
  if (!text) return fail(std::move(text).error());
  auto d = parse_digest(*text);
  if (!d) return fail(std::move(d).error().wrap(key));
  return d;
}

}  // namespace

Result<ImageRecord> image_record_from_json(const Json& j) {
  auto bad = [](Error e) { return fail(std::move(e).wrap("image record")); };
  if (!j.is_object()) return fail(Errc::invalid_argument, "image record must be a JSON object");
  ImageRecord r;
  auto reference = json_string(j, "reference");
  auto manifest = digest_field(j, "manifest_digest");
  auto media_type = json_string(j, "manifest_media_type");
  auto config = digest_field(j, "config_digest");
  if (!reference) return bad(reference.error());
  if (!manifest) return bad(manifest.error());
  if (!media_type) return bad(media_type.error());
  if (!config) return bad(config.error());
  r.reference = *reference;
  r.manifest_digest = *manifest;
  r.manifest_media_type = *media_type;
  r.config_digest = *config;
  if (auto it = j.find("index_digest"); it != j.end() && !it->is_null()) {
    auto index = digest_field(j, "index_digest");
    if (!index) return bad(index.error());
    r.index_digest = *index;
  }
  auto layers = j.find("layers");
  if (layers == j.end() || !layers->is_array())
    return fail(Errc::invalid_argument, "image record: 'layers' must be an array");
  for (const auto& l : *layers) {
    if (!l.is_object()) return fail(Errc::invalid_argument, "image record: a layer must be an object");
    auto d = digest_field(l, "digest");
    auto t = json_string(l, "media_type");
    auto size = json_int(l, "size");
    if (!d) return bad(d.error());
    if (!t) return bad(t.error());
    if (!size || *size < 0)
      return fail(Errc::invalid_argument, "image record: layer size must be a non-negative integer");
    r.layers.push_back({*d, *t, static_cast<uint64_t>(*size)});
  }
  if (auto c = j.find("config"); c != j.end()) {
    auto cfg = image_config_from_json(*c);
    if (!cfg) return bad(cfg.error());
    r.config = std::move(*cfg);
  }
  return r;
}

}  // namespace nexus::oci
