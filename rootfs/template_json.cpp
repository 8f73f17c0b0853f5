// SPDX-License-Identifier: Apache-2.0
// template.json (de)serialisation with nlohmann-json.
#include "rootfs/template_json.hpp"

#include <fmt/format.h>

#include "common/json.hpp"

namespace nexus::rootfs {

std::string template_to_json(const TemplateInfo& info) {
  Json j = {
      {"format", kTemplateJsonFormat},
      {"name", info.name},
      {"description", info.description},
      {"base",
       {{"type", "debian"},
        {"suite", info.base.suite},
        {"variant", info.base.variant},
        {"packages", info.base.packages},
        {"customize_hooks", info.base.customize_hooks},
        {"mirror", info.base.mirror}}},
      {"packages", info.base.packages},
      {"built_at", info.built_at},
      {"size_bytes", info.size_bytes},
      {"cache_key", info.cache_key},
      {"uid_base", info.uid_base},
      {"uid_count", info.uid_count},
  };
  return dump_json(j, 2) + "\n";
}

Result<TemplateInfo> template_from_json(std::string_view text) {
  auto parsed = parse_json(text);
  if (!parsed) return fail(std::move(parsed).error());
  const Json& j = *parsed;
  try {
    if (j.at("format").get<int>() != kTemplateJsonFormat)
      return fail(Errc::invalid_argument,
                  fmt::format("unsupported template.json format {}", dump_json(j.at("format"))));
    TemplateInfo info;
    info.name = j.at("name").get<std::string>();
    info.description = j.value("description", std::string());
    const Json& b = j.at("base");
    info.base.suite = b.at("suite").get<std::string>();
    info.base.variant = b.at("variant").get<std::string>();
    info.base.packages = b.at("packages").get<std::vector<std::string>>();
    info.base.customize_hooks = b.value("customize_hooks", std::vector<std::string>());
    info.base.mirror = b.at("mirror").get<std::string>();
    info.built_at = j.at("built_at").get<std::string>();
    info.size_bytes = j.at("size_bytes").get<uint64_t>();
    info.cache_key = j.at("cache_key").get<std::string>();
    info.uid_base = j.at("uid_base").get<uint32_t>();
    info.uid_count = j.at("uid_count").get<uint32_t>();
    return info;
  } catch (const Json::exception& e) {
    return fail(Errc::invalid_argument, fmt::format("malformed template.json: {}", e.what()));
  }
}

}  // namespace nexus::rootfs
