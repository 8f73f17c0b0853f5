// SPDX-License-Identifier: Apache-2.0
#include "rootfs/oci/manifest.hpp"

#include <fmt/format.h>

#include "rootfs/oci/media_types.hpp"

namespace nexus::oci {

namespace {

Result<std::string> required_string(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string() || it->get_ref<const std::string&>().empty())
    return fail(Errc::invalid_argument, fmt::format("'{}' must be a non-empty string", key));
  return it->get<std::string>();
}

Result<Platform> parse_platform_object(const Json& j) {
  if (!j.is_object()) return fail(Errc::invalid_argument, "'platform' must be an object");
  Platform p;
  auto os = json_string(j, "os");
  auto arch = json_string(j, "architecture");
  auto variant = json_string(j, "variant");
  if (!os) return fail(std::move(os).error().wrap("platform"));
  if (!arch) return fail(std::move(arch).error().wrap("platform"));
  if (!variant) return fail(std::move(variant).error().wrap("platform"));
  p.os = *os;
  p.architecture = *arch;
  p.variant = *variant;
  return normalize(std::move(p));
}

// The mediaType a document declares, reconciled with the Content-Type it came with.
Result<std::string> document_type(const Json& doc, std::string_view content_type) {
  auto declared = json_string(doc, "mediaType");
  if (!declared) return fail(std::move(declared).error());
  std::string ct(content_type.substr(0, content_type.find(';')));
  while (!ct.empty() && ct.back() == ' ') ct.pop_back();
  if (ct == "application/json" || ct == "text/plain" || ct == "application/octet-stream") ct.clear();
  for (const auto& t : {std::string_view(*declared), std::string_view(ct)}) {
    if (t == media::kDockerSchema1 || t == media::kDockerSchema1Signed)
      return fail(Errc::invalid_argument,
                  "Docker schema 1 manifests are not supported (re-push the image with a current client)");
  }
  if (!declared->empty() && !ct.empty() && *declared != ct)
    return fail(Errc::invalid_argument,
                fmt::format("manifest declares mediaType '{}' but was served as '{}'", *declared, ct));
  std::string type = declared->empty() ? ct : *declared;
  if (type.empty()) {
    // OCI allows an absent mediaType (e.g. in an image layout): tell by shape.
    if (doc.contains("manifests"))
      type = std::string(media::kOciIndex);
    else if (doc.contains("config") && doc.contains("layers"))
      type = std::string(media::kOciManifest);
    else
      return fail(Errc::invalid_argument, "document is neither an image manifest nor an index");
  }
  if (!media::is_manifest(type) && !media::is_index(type))
    return fail(Errc::invalid_argument, fmt::format("unsupported manifest media type '{}'", type));
  return type;
}

Result<std::vector<Descriptor>> parse_descriptor_list(const Json& doc, const char* key, size_t max) {
  auto it = doc.find(key);
  if (it == doc.end() || !it->is_array())
    return fail(Errc::invalid_argument, fmt::format("'{}' must be an array", key));
  if (it->size() > max)
    return fail(Errc::too_large, fmt::format("'{}' has {} entries, more than {}", key, it->size(), max));
  std::vector<Descriptor> out;
  out.reserve(it->size());
  for (size_t i = 0; i < it->size(); ++i) {
    auto d = parse_descriptor((*it)[i]);
    if (!d) return fail(std::move(d).error().wrap(fmt::format("{}[{}]", key, i)));
    out.push_back(std::move(*d));
  }
  return out;
}

}  // namespace

Result<Descriptor> parse_descriptor(const Json& j) {
  if (!j.is_object()) return fail(Errc::invalid_argument, "descriptor must be an object");
  Descriptor d;
  auto type = required_string(j, "mediaType");
  if (!type) return fail(std::move(type).error());
  d.media_type = std::move(*type);
  auto digest_text = required_string(j, "digest");
  if (!digest_text) return fail(std::move(digest_text).error());
  auto digest = parse_digest(*digest_text);
  if (!digest) return fail(std::move(digest).error());
  d.digest = *digest;
  auto size = j.find("size");
  if (size == j.end() || !size->is_number_unsigned())
    return fail(Errc::invalid_argument, "'size' must be a non-negative integer");
  d.size = size->get<uint64_t>();
  if (auto p = j.find("platform"); p != j.end()) {
    auto platform = parse_platform_object(*p);
    if (!platform) return fail(std::move(platform).error());
    d.platform = std::move(*platform);
  }
  if (auto a = j.find("annotations"); a != j.end() && a->is_object()) {
    for (const auto& [k, v] : a->items())
      if (v.is_string()) d.annotations[k] = v.get<std::string>();
  }
  return d;
}

Result<ParsedManifest> parse_manifest(std::string_view body, std::string_view content_type) {
  if (body.size() > limits::kMaxManifestBytes)
    return fail(Errc::too_large,
                fmt::format("manifest is {} bytes, more than the {} allowed", body.size(), limits::kMaxManifestBytes));
  auto doc = parse_json(body);
  if (!doc) return fail(std::move(doc).error().wrap("manifest"));
  if (!doc->is_object()) return fail(Errc::invalid_argument, "manifest is not a JSON object");
  auto version = doc->find("schemaVersion");
  if (version != doc->end() && version->is_number_integer() && version->get<long long>() == 1)
    return fail(Errc::invalid_argument,
                "Docker schema 1 manifests are not supported (re-push the image with a current client)");
  if (version == doc->end() || !version->is_number_integer() || version->get<long long>() != 2)
    return fail(Errc::invalid_argument, "manifest schemaVersion must be 2");
  auto type = document_type(*doc, content_type);
  if (!type) return fail(std::move(type).error().wrap("manifest"));

  if (media::is_index(*type)) {
    ImageIndex index{*type, {}};
    auto entries = parse_descriptor_list(*doc, "manifests", limits::kMaxIndexEntries);
    if (!entries) return fail(std::move(entries).error().wrap("index"));
    index.manifests = std::move(*entries);
    return index;
  }
  ImageManifest m{*type, {}, {}};
  auto config = doc->find("config");
  if (config == doc->end()) return fail(Errc::invalid_argument, "manifest has no 'config'");
  auto cd = parse_descriptor(*config);
  if (!cd) return fail(std::move(cd).error().wrap("manifest config"));
  m.config = std::move(*cd);
  if (m.config.size > limits::kMaxConfigBytes)
    return fail(Errc::too_large, fmt::format("image config is {} bytes, more than the {} allowed", m.config.size,
                                             limits::kMaxConfigBytes));
  auto layers = parse_descriptor_list(*doc, "layers", limits::kMaxLayers);
  if (!layers) return fail(std::move(layers).error().wrap("manifest"));
  m.layers = std::move(*layers);
  for (const auto& l : m.layers) {
    if (!media::is_layer(l.media_type))
      return fail(Errc::invalid_argument,
                  fmt::format("manifest: unsupported layer media type '{}' ({})", l.media_type, l.digest.str()));
  }
  return m;
}

Result<Descriptor> select_platform(const ImageIndex& index, const Platform& want) {
  const Descriptor* fallback = nullptr;
  std::string available;
  for (const auto& d : index.manifests) {
    if (!d.platform || !(media::is_manifest(d.media_type) || media::is_index(d.media_type))) continue;
    const Platform& have = *d.platform;
    if (have.os == "unknown") continue;  // buildx attestation manifests
    if (!available.empty()) available += ", ";
    available += have.str();
    if (platform_matches(want, have)) return d;
    Platform want_n = normalize(want);
    if (want_n.variant.empty() && !fallback && want_n.os == have.os && want_n.architecture == have.architecture)
      fallback = &d;
  }
  if (fallback) return *fallback;
  return fail(Errc::not_found, fmt::format("no image for platform {} in the index (it has: {})", want.str(),
                                           available.empty() ? "no platforms" : available));
}

std::string manifest_json(const ImageManifest& m) {
  auto desc = [](const Descriptor& d) {
    return Json{{"mediaType", d.media_type}, {"digest", d.digest.str()}, {"size", d.size}};
  };
  Json layers = Json::array();
  for (const auto& l : m.layers) layers.push_back(desc(l));
  Json doc{{"schemaVersion", 2}, {"mediaType", m.media_type}, {"config", desc(m.config)}, {"layers", layers}};
  return dump_json(doc);
}

}  // namespace nexus::oci
