// SPDX-License-Identifier: Apache-2.0
// The templates every installation knows how to build (DESIGN.md §7).
#pragma once

#include <string_view>
#include <vector>

#include "rootfs/template_def.hpp"

namespace nexus::rootfs {

/// The name of the template used when a request names none.
inline constexpr std::string_view kDefaultTemplate = "ai-agent-default";

/// ai-agent-default, python-data-science, node-fullstack, browser-automation; all built
/// from Debian bookworm packages, so they need no container registry.
const std::vector<TemplateDef>& seeded_templates();
/// nullptr when `name` is not a seeded template.
const TemplateDef* find_seeded_template(std::string_view name);

}  // namespace nexus::rootfs
