// SPDX-License-Identifier: Apache-2.0
// template.json: the metadata file beside a template's rootfs.
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"
#include "rootfs/template_store.hpp"

namespace nexus::rootfs {

inline constexpr int kTemplateJsonFormat = 1;

/// Serialises everything but `dir` and `rootfs_path`, which follow from where it lies.
std::string template_to_json(const TemplateInfo& info);
/// Errc::invalid_argument for malformed JSON or fields of the wrong type.
Result<TemplateInfo> template_from_json(std::string_view text);

}  // namespace nexus::rootfs
