// SPDX-License-Identifier: Apache-2.0
// Tests for template names, base validation and the seeded templates.
#include <catch.hpp>

#include <algorithm>

#include "rootfs/seeded_templates.hpp"
#include "rootfs/template_def.hpp"

using namespace nexus;
using namespace nexus::rootfs;

TEST_CASE("template names", "[rootfs]") {
  CHECK(is_valid_template_name("ai-agent-default"));
  CHECK(is_valid_template_name("a"));
  CHECK(is_valid_template_name("0.x_y-z"));
  CHECK(is_valid_template_name(std::string(63, 'a')));
  CHECK_FALSE(is_valid_template_name(std::string(64, 'a')));
  for (const char* bad : {"", "../x", "/abs", "A", "x/y", ".", "..", ".hidden", "-x", "_x",
                          "a@b", "a b", "caf\xc3\xa9"}) {
    INFO(bad);
    CHECK_FALSE(is_valid_template_name(bad));
    auto r = validate_template_name(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().is(Errc::invalid_argument));
  }
  CHECK(validate_template_name("ok"));
}

TEST_CASE("Debian base validation", "[rootfs]") {
  DebianBase base;
  base.packages = {"bash", "python3", "libstdc++6", "g++", "foo:amd64", "bar=1.2-3+deb12u1"};
  CHECK(validate_debian_base(base));

  auto rejects = [](DebianBase b) {
    auto r = validate_debian_base(b);
    return !r && r.error().is(Errc::invalid_argument);
  };
  for (const char* p : {"", "a,b", "--option", "Bash", "x", "a b", "a;rm"}) {
    INFO(p);
    DebianBase b;
    b.packages = {p};
    CHECK(rejects(b));
  }
  DebianBase b;
  b.suite = "../x";
  CHECK(rejects(b));
  b = {};
  b.variant = "everything";
  CHECK(rejects(b));
  b = {};
  b.mirror = "ftp://x";
  CHECK(rejects(b));
  b.mirror = "http://x y";
  CHECK(rejects(b));
}

TEST_CASE("seeded templates", "[rootfs]") {
  const auto& all = seeded_templates();
  REQUIRE(all.size() == 4);
  for (const auto& t : all) {
    INFO(t.name);
    CHECK(is_valid_template_name(t.name));
    CHECK(validate_debian_base(t.base));
    CHECK(find_seeded_template(t.name) == &t);
  }
  CHECK(find_seeded_template("nope") == nullptr);
  const TemplateDef* def = find_seeded_template(kDefaultTemplate);
  REQUIRE(def != nullptr);
  CHECK(def->base.suite == "bookworm");
  CHECK(def->base.variant == "minbase");
  for (const char* p : {"bash", "python3", "python-is-python3", "nodejs", "git", "curl",
                        "ca-certificates", "procps"}) {
    INFO(p);
    CHECK(std::count(def->base.packages.begin(), def->base.packages.end(), p) == 1);
  }
  auto has = [](const char* name, const char* pkg) {
    const auto& p = find_seeded_template(name)->base.packages;
    return std::find(p.begin(), p.end(), pkg) != p.end();
  };
  CHECK(has("python-data-science", "python3-pandas"));
  CHECK(has("node-fullstack", "npm"));
  CHECK(has("browser-automation", "chromium-driver"));
}
