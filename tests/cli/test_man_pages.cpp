// SPDX-License-Identifier: Apache-2.0
// The man pages (man/*.scd) against the CLI's command table: every command has a
// section in its group's page (nexus-sandbox(1): "## create"; a top-level command has a page
// of its own), and that section has an entry for each of the command's options (every
// name, short and long, with its value's name) and positionals. An entry for an option the
// command does not have fails too. NEXUS_MAN_DIR (set by tests/cli/meson.build) is where
// the pages are.
#include <catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "cli/command_table.hpp"
#include "cli/completion.hpp"

using namespace nexus::cli;

namespace {

using Lines = std::vector<std::string>;

std::string man_dir() {
  const char* dir = std::getenv("NEXUS_MAN_DIR");
  return dir ? dir : "man";
}

std::optional<Lines> read_page(const std::string& name) {
  std::ifstream in(man_dir() + "/" + name);
  if (!in) return std::nullopt;
  Lines lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool is_heading(const std::string& line) { return !line.empty() && line.front() == '#'; }

/// The lines of the "## heading" subsection, up to the next heading.
std::optional<Lines> subsection(const Lines& page, const std::string& heading) {
  for (size_t i = 0; i < page.size(); ++i) {
    if (page[i] != "## " + heading) continue;
    Lines out;
    for (size_t j = i + 1; j < page.size() && !is_heading(page[j]); ++j) out.push_back(page[j]);
    return out;
  }
  return std::nullopt;
}

/// The "## ..." headings of a page.
std::vector<std::string> subsection_headings(const Lines& page) {
  std::vector<std::string> out;
  for (const std::string& line : page)
    if (line.rfind("## ", 0) == 0) out.push_back(line.substr(3));
  return out;
}

/// An option entry starts its line with the option in bold: "*-t*, *--template* _NAME_".
bool is_option_entry(const std::string& line) { return line.rfind("*-", 0) == 0; }

/// The options named in bold on an entry line.
std::vector<std::string> entry_options(const std::string& line) {
  static const std::regex bold_option(R"(\*(--?[A-Za-z0-9][A-Za-z0-9-]*)\*)");
  std::vector<std::string> out;
  for (std::sregex_iterator it(line.begin(), line.end(), bold_option), end; it != end; ++it)
    out.push_back((*it)[1]);
  return out;
}

std::vector<std::string> split_names(std::string_view names) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t comma; (comma = names.find(',', start)) != std::string_view::npos; start = comma + 1)
    out.emplace_back(names.substr(start, comma - start));
  out.emplace_back(names.substr(start));
  return out;
}

/// The page a command is documented in, and the subsection ("" for the whole page).
std::pair<std::string, std::string> where_documented(std::string_view group, std::string_view name) {
  if (group.empty()) return {"nexus-" + std::string(name) + ".1.scd", ""};
  std::string g(group);
  auto space = g.find(' ');
  std::string page = "nexus-" + g.substr(0, space) + ".1.scd";
  std::string heading = space == std::string::npos ? std::string(name)
                                                   : g.substr(space + 1) + " " + std::string(name);
  return {page, heading};
}

struct Documented {
  std::string positional;  ///< "ID"
  std::vector<std::string> names;
  std::string value_name;
};

/// Checks `section` documents each of `args` and nothing else; `what` names it in messages.
/// Returns how many entries were found.
int check_section(const std::string& what, const Lines& section, const std::vector<Documented>& args) {
  std::vector<std::string> known = {"--socket", "-h", "--help"};  // global, valid everywhere
  int found_entries = 0;
  for (const Documented& a : args) {
    if (!a.positional.empty()) {
      bool found = false;
      for (const std::string& line : section) found = found || line.rfind("_" + a.positional + "_", 0) == 0;
      found_entries += found;
      if (!found)
        FAIL_CHECK(what << ": positional " << a.positional << " needs an entry (a line starting _"
                        << a.positional << "_)");
      continue;
    }
    for (const std::string& name : a.names) {
      known.push_back(name);
      const std::string* entry = nullptr;
      for (const std::string& line : section) {
        if (!is_option_entry(line)) continue;
        for (const std::string& o : entry_options(line))
          if (o == name) entry = &line;
      }
      found_entries += entry != nullptr;
      if (!entry)
        FAIL_CHECK(what << ": option " << name << " needs an entry (a line starting *" << name
                        << "* or *-x*, *" << name << "*)");
      else if (!a.value_name.empty() && entry->find("_" + a.value_name + "_") == std::string::npos)
        FAIL_CHECK(what << ": the entry of " << name << " must name its value _" << a.value_name
                        << "_: " << *entry);
    }
  }
  for (const std::string& line : section) {
    if (!is_option_entry(line)) continue;
    for (const std::string& o : entry_options(line))
      if (std::find(known.begin(), known.end(), o) == known.end())
        FAIL_CHECK(what << ": documents " << o << ", which it does not have: " << line);
  }
  return found_entries;
}

std::vector<Documented> documented_args(const std::vector<ArgSpec>& args) {
  std::vector<Documented> out;
  for (const ArgSpec& a : args) {
    if (a.positional())
      out.push_back({std::string(a.names), {}, {}});
    else
      out.push_back({{}, split_names(a.names), a.kind == ArgKind::flag ? "" : std::string(a.value_name)});
  }
  return out;
}

}  // namespace

TEST_CASE("every command of the table has its section, with every option and positional", "[man]") {
  int entries = 0, args = 0;
  for (const CommandSpec& c : command_table()) {
    for (const ArgSpec& a : c.args)
      args += a.positional() ? 1 : static_cast<int>(split_names(a.names).size());
    auto [page_name, heading] = where_documented(c.group, c.name);
    std::string what = "nexus " + (c.group.empty() ? "" : std::string(c.group) + " ") + std::string(c.name) +
                       " in " + page_name;
    auto page = read_page(page_name);
    if (!page) {
      FAIL_CHECK(what << ": no page " << man_dir() << "/" << page_name);
      continue;
    }
    std::optional<Lines> section = heading.empty() ? page : subsection(*page, heading);
    if (!section) {
      FAIL_CHECK(what << ": no section '## " << heading << "'");
      continue;
    }
    entries += check_section(what, *section, documented_args(c.args));
  }
  CHECK(args > 80);  // the table was read
  CHECK(entries == args);
}

TEST_CASE("a group page's sections are the group's commands", "[man]") {
  for (const GroupSpec& g : command_groups()) {
    if (std::string_view(g.name).find(' ') != std::string_view::npos) continue;  // in its parent's page
    std::string page_name = "nexus-" + std::string(g.name) + ".1.scd";
    auto page = read_page(page_name);
    if (!page) {
      FAIL_CHECK("group " << g.name << ": no page " << page_name);
      continue;
    }
    for (const std::string& heading : subsection_headings(*page)) {
      bool known = false;
      for (const CommandSpec& c : command_table())
        known = known || where_documented(c.group, c.name) == std::pair(page_name, heading);
      if (!known) FAIL_CHECK(page_name << ": section '## " << heading << "' is not a command of the table");
    }
  }
}

TEST_CASE("nexus(1) has the global options and refers to every page", "[man]") {
  auto page = read_page("nexus.1.scd");
  REQUIRE(page);
  Lines section;  // the "# OPTIONS" section
  bool in = false;
  for (const std::string& line : *page) {
    if (is_heading(line)) in = line == "# OPTIONS";
    else if (in) section.push_back(line);
  }
  std::vector<ArgSpec> globals(global_args().begin(), global_args().end());
  globals.push_back(ArgSpec{"--version", "version", ArgKind::flag, {}, {}, false, ArgCheck::none, {}});
  CHECK(check_section("nexus(1) OPTIONS", section, documented_args(globals)) == 2);

  std::string text;
  for (const std::string& line : *page) text += line + "\n";
  std::vector<std::string> pages;
  for (const GroupSpec& g : command_groups())
    if (std::string_view(g.name).find(' ') == std::string_view::npos)
      pages.push_back("nexus-" + std::string(g.name));
  for (const CommandSpec& c : command_table())
    if (c.group.empty()) pages.push_back("nexus-" + std::string(c.name));
  pages.push_back("nexus-completion");
  for (const std::string& p : pages)
    if (text.find("*" + p + "*(1)") == std::string::npos)
      FAIL_CHECK("nexus.1.scd does not refer to *" << p << "*(1)");
  CHECK(pages.size() >= 8);
}

TEST_CASE("nexus-completion(1) documents nexus completion's arguments", "[man]") {
  auto tree = completion_tree();
  const CompletionNode* node = find_completion_node(tree, "completion");
  REQUIRE(node);
  auto page = read_page("nexus-completion.1.scd");
  REQUIRE(page);
  std::vector<Documented> args;
  for (const CompletionPositional& p : node->positionals) args.push_back({p.name, {}, {}});
  CHECK(check_section("nexus completion in nexus-completion.1.scd", *page, args) == 1);
}
