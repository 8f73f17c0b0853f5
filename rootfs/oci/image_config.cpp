// SPDX-License-Identifier: Apache-2.0
#include "rootfs/oci/image_config.hpp"

#include <fmt/format.h>

#include "rootfs/oci/media_types.hpp"

namespace nexus::oci {

namespace {

Result<std::vector<std::string>> string_list(const Json& obj, const char* key) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  if (!it->is_array()) return fail(Errc::invalid_argument, fmt::format("'{}' must be an array of strings", key));
  for (const auto& v : *it) {
    if (!v.is_string()) return fail(Errc::invalid_argument, fmt::format("'{}' must be an array of strings", key));
    out.push_back(v.get<std::string>());
  }
  return out;
}

Result<std::vector<Digest>> digest_list(const Json& obj, const char* key) {
  auto texts = string_list(obj, key);
  if (!texts) return fail(std::move(texts).error());
  std::vector<Digest> out;
  for (const auto& t : *texts) {
    auto d = parse_digest(t);
    if (!d) return fail(std::move(d).error().wrap(key));
    out.push_back(*d);
  }
  return out;
}

// Fill the process fields from the registry config blob's "config" object (oci_names: Env,
// Cmd, ...) or from our own record JSON (env, cmd, ...).
Result<void> read_process_fields(const Json& obj, ImageConfig& c, bool oci_names) {
  auto env = string_list(obj, oci_names ? "Env" : "env");
  auto entrypoint = string_list(obj, oci_names ? "Entrypoint" : "entrypoint");
  auto cmd = string_list(obj, oci_names ? "Cmd" : "cmd");
  auto wd = json_string(obj, oci_names ? "WorkingDir" : "working_dir");
  auto user = json_string(obj, oci_names ? "User" : "user");
  for (auto* r : {&env, &entrypoint, &cmd})
    if (!*r) return fail(std::move(*r).error());
  if (!wd) return fail(std::move(wd).error());
  if (!user) return fail(std::move(user).error());
  c.env = std::move(*env);
  c.entrypoint = std::move(*entrypoint);
  c.cmd = std::move(*cmd);
  c.working_dir = std::move(*wd);
  c.user = std::move(*user);
  return {};
}

Result<Platform> read_platform(const Json& obj, const char* arch_key) {
  auto os = json_string(obj, "os", "linux");
  auto arch = json_string(obj, arch_key, "amd64");
  auto variant = json_string(obj, "variant");
  if (!os) return fail(std::move(os).error());
  if (!arch) return fail(std::move(arch).error());
  if (!variant) return fail(std::move(variant).error());
  return normalize(Platform{*os, *arch, *variant});
}

}  // namespace

Result<ImageConfig> parse_image_config(std::string_view body) {
  if (body.size() > limits::kMaxConfigBytes)
    return fail(Errc::too_large, fmt::format("image config is {} bytes, more than the {} allowed", body.size(),
                                             limits::kMaxConfigBytes));
  auto doc = parse_json(body);
  if (!doc) return fail(std::move(doc).error().wrap("image config"));
  if (!doc->is_object()) return fail(Errc::invalid_argument, "image config is not a JSON object");
  ImageConfig c;
  auto platform = read_platform(*doc, "architecture");
  if (!platform) return fail(std::move(platform).error().wrap("image config"));
  c.platform = std::move(*platform);
  if (auto cfg = doc->find("config"); cfg != doc->end() && !cfg->is_null()) {
    if (!cfg->is_object()) return fail(Errc::invalid_argument, "image config: 'config' must be an object");
    NEXUS_TRY(read_process_fields(*cfg, c, true).map_error([](Error e) { return std::move(e).wrap("image config"); }));
  }
  auto rootfs = doc->find("rootfs");
  if (rootfs == doc->end() || !rootfs->is_object())
    return fail(Errc::invalid_argument, "image config has no 'rootfs' object");
  auto diff_ids = digest_list(*rootfs, "diff_ids");
  if (!diff_ids) return fail(std::move(diff_ids).error().wrap("image config rootfs"));
  c.diff_ids = std::move(*diff_ids);
  return c;
}

Json image_config_to_json(const ImageConfig& c) {
  Json diff = Json::array();
  for (const auto& d : c.diff_ids) diff.push_back(d.str());
  return Json{{"os", c.platform.os},
              {"architecture", c.platform.architecture},
              {"variant", c.platform.variant},
              {"env", c.env},
              {"entrypoint", c.entrypoint},
              {"cmd", c.cmd},
              {"working_dir", c.working_dir},
              {"user", c.user},
              {"diff_ids", diff}};
}

Result<ImageConfig> image_config_from_json(const Json& j) {
  if (!j.is_object()) return fail(Errc::invalid_argument, "image config must be an object");
  ImageConfig c;
  auto platform = read_platform(j, "architecture");
  if (!platform) return fail(std::move(platform).error());
  c.platform = std::move(*platform);
  NEXUS_TRY(read_process_fields(j, c, false));
  auto diff_ids = digest_list(j, "diff_ids");
  if (!diff_ids) return fail(std::move(diff_ids).error());
  c.diff_ids = std::move(*diff_ids);
  return c;
}

}  // namespace nexus::oci
