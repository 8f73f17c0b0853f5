// SPDX-License-Identifier: Apache-2.0
// The command tree the completion scripts are generated from, and the values of
// `nexus __complete`.
#include "cli/completion.hpp"

#include <algorithm>

namespace nexus::cli {

namespace {

std::vector<std::string> split_names(std::string_view names) {
  std::vector<std::string> out;
  while (!names.empty()) {
    size_t comma = names.find(',');
    out.emplace_back(names.substr(0, comma));
    if (comma == std::string_view::npos) break;
    names.remove_prefix(comma + 1);
  }
  return out;
}

template <size_t N>
std::vector<std::string> word_list(const std::string_view (&words)[N]) {
  return std::vector<std::string>(std::begin(words), std::end(words));
}

ValueCompletion value_completion(const ArgSpec& a) {
  switch (a.check) {
    case ArgCheck::language: return {"words", word_list(run_languages)};
    case ArgCheck::isolation: return {"words", word_list(isolation_modes)};
    case ArgCheck::none:
    case ArgCheck::positive_int:
    case ArgCheck::key_value: break;
  }
  switch (a.values) {
    case ArgValues::none: return {};
    case ArgValues::sandbox_id: return {"sandbox-ids", {}};
    case ArgValues::template_name: return {"template-names", {}};
    case ArgValues::image_ref: return {"image-refs", {}};
    case ArgValues::file: return {"file", {}};
    case ArgValues::directory: return {"dir", {}};
  }
  return {};
}

CompletionOption option_of(const ArgSpec& a) {
  CompletionOption o;
  o.names = split_names(a.names);
  o.help = std::string(a.help);
  o.takes_value = a.kind != ArgKind::flag;
  o.repeatable = a.kind == ArgKind::list;
  o.value_name = a.value_name.empty() ? "VALUE" : std::string(a.value_name);
  o.values = value_completion(a);
  return o;
}

CompletionOption help_option() {
  CompletionOption o;
  o.names = {"-h", "--help"};
  o.help = "Print this help message and exit";
  return o;
}

std::vector<CompletionOption> common_options() {
  std::vector<CompletionOption> out;
  for (const ArgSpec& g : global_args()) out.push_back(option_of(g));
  out.push_back(help_option());
  return out;
}

std::string joined_path(std::string_view group, std::string_view name) {
  return group.empty() ? std::string(name) : std::string(group) + " " + std::string(name);
}

void add_child(std::vector<CompletionNode>& tree, std::string_view path) {
  std::string_view parent, leaf = path;
  if (auto space = path.rfind(' '); space != std::string_view::npos) {
    parent = path.substr(0, space);
    leaf = path.substr(space + 1);
  }
  for (CompletionNode& n : tree)
    if (n.path == parent) n.children.emplace_back(leaf);
}

CompletionNode command_node(const CommandSpec& c) {
  CompletionNode n;
  n.path = joined_path(c.group, c.name);
  n.summary = std::string(c.summary);
  n.command = true;
  for (const ArgSpec& a : c.args) {
    if (a.positional()) {
      n.positionals.push_back({std::string(a.names), std::string(a.help), a.required,
                               a.kind == ArgKind::list, value_completion(a)});
      continue;
    }
    CompletionOption o = option_of(a);
    if (!a.excludes.empty()) {
      for (const ArgSpec& other : c.args)
        if (other.key == a.excludes)
          for (std::string& name : split_names(other.names)) o.excludes.push_back(name);
    }
    n.options.push_back(std::move(o));
  }
  for (CompletionOption& o : common_options()) n.options.push_back(std::move(o));
  return n;
}

/// `nexus completion SHELL` (not in the table; see completion.hpp).
CompletionNode completion_command_node() {
  CompletionNode n;
  n.path = "completion";
  n.summary = "Print the completion script for a shell";
  n.command = true;
  n.positionals.push_back(
      {"SHELL", "bash, zsh or fish", true, false, {"words", word_list(completion_shells)}});
  n.options = common_options();
  return n;
}

std::string text_field(const Json& obj, const char* key) {
  if (!obj.is_object()) return {};
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

bool printable(std::string_view s) {
  return !s.empty() && std::none_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
}

void add_line(std::string& out, const std::string& value, const std::string& description,
              bool describe) {
  if (!printable(value)) return;
  out += value;
  if (describe && printable(description)) out += "\t" + description;
  out += "\n";
}

Json list_member(const Json& answer, const char* key) {
  if (answer.is_object() && answer.contains(key) && answer[key].is_array()) return answer[key];
  return Json::array();
}

}  // namespace

std::vector<CompletionNode> completion_tree() {
  std::vector<CompletionNode> tree;
  CompletionNode root;
  root.summary = "Nexus: sandboxes for AI agents on this host";
  for (const ArgSpec& g : global_args()) root.options.push_back(option_of(g));
  CompletionOption version;
  version.names = {"--version"};
  version.help = "Print the version and exit";
  root.options.push_back(version);
  root.options.push_back(help_option());
  tree.push_back(std::move(root));

  for (const GroupSpec& g : command_groups()) {
    CompletionNode n;
    n.path = std::string(g.name);
    n.summary = std::string(g.summary);
    n.options = common_options();
    add_child(tree, n.path);
    tree.push_back(std::move(n));
  }
  for (const CommandSpec& c : command_table()) {
    CompletionNode n = command_node(c);
    add_child(tree, n.path);
    tree.push_back(std::move(n));
  }
  CompletionNode completion = completion_command_node();
  add_child(tree, completion.path);
  tree.push_back(std::move(completion));
  return tree;
}

const CompletionNode* find_completion_node(std::span<const CompletionNode> tree,
                                           std::string_view path) {
  for (const CompletionNode& n : tree)
    if (n.path == path) return &n;
  return nullptr;
}

std::optional<std::string> completion_script(std::string_view shell) {
  std::vector<CompletionNode> tree = completion_tree();
  if (shell == "bash") return bash_completion_script(tree);
  if (shell == "zsh") return zsh_completion_script(tree);
  if (shell == "fish") return fish_completion_script(tree);
  return std::nullopt;
}

std::optional<std::string> completion_values_target(std::string_view kind) {
  if (kind == "sandbox-ids") return "/v1/sandboxes";
  if (kind == "template-names") return "/v1/templates";
  if (kind == "image-refs") return "/v1/images";
  return std::nullopt;
}

std::string completion_value_lines(std::string_view kind, const Json& answer, bool describe) {
  std::string out;
  if (kind == "sandbox-ids") {
    for (const Json& sb : list_member(answer, "sandboxes")) {
      std::string name = text_field(sb, "name"), status = text_field(sb, "status");
      std::string description = name.empty() ? status : name + " (" + status + ")";
      add_line(out, text_field(sb, "sandbox_id"), description, describe);
    }
  } else if (kind == "template-names") {
    for (const Json& t : list_member(answer, "templates"))
      add_line(out, text_field(t, "name"), text_field(t, "status"), describe);
  } else if (kind == "image-refs") {
    for (const Json& i : list_member(answer, "images"))
      add_line(out, text_field(i, "reference"), text_field(i, "manifest_digest").substr(0, 19),
               describe);
  }
  return out;
}

}  // namespace nexus::cli
