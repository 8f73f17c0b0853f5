// SPDX-License-Identifier: Apache-2.0
// Definitions of the seeded templates.
#include "rootfs/seeded_templates.hpp"

#include <string>

namespace nexus::rootfs {

namespace {

// What every seeded template has, so that agents find the usual tools.
std::vector<std::string> agent_packages(std::vector<std::string> extra) {
  std::vector<std::string> p = {"bash",           "ca-certificates", "curl", "git",
                                "procps",         "python3",         "python-is-python3"};
  p.insert(p.end(), extra.begin(), extra.end());
  return p;
}

TemplateDef make(std::string name, std::string description, std::vector<std::string> extra) {
  TemplateDef t;
  t.name = std::move(name);
  t.description = std::move(description);
  t.base.packages = agent_packages(std::move(extra));
  return t;
}

}  // namespace

const std::vector<TemplateDef>& seeded_templates() {
  static const std::vector<TemplateDef> templates = {
      make(std::string(kDefaultTemplate),
           "Debian bookworm with bash, python3, nodejs, git and curl", {"nodejs"}),
      make("python-data-science", "ai-agent-default plus numpy, pandas, matplotlib, scipy",
           {"nodejs", "python3-numpy", "python3-pandas", "python3-matplotlib",
            "python3-scipy"}),
      make("node-fullstack", "ai-agent-default plus npm", {"nodejs", "npm"}),
      make("browser-automation", "ai-agent-default plus chromium and chromedriver",
           {"nodejs", "chromium", "chromium-driver", "fonts-liberation"}),
  };
  return templates;
}

const TemplateDef* find_seeded_template(std::string_view name) {
  for (const auto& t : seeded_templates())
    if (t.name == name) return &t;
  return nullptr;
}

}  // namespace nexus::rootfs
