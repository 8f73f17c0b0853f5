// SPDX-License-Identifier: Apache-2.0
// Shell completion: the command tree built from the command table, the bash, zsh and fish
// scripts generated from it (`nexus completion SHELL`), and the values asked of nexusd at
// completion time (`nexus __complete KIND`). Neither command is in the table, so `nexus
// --help` stays the table's; nexus(1) documents `completion`.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cli/command_table.hpp"
#include "common/json.hpp"

namespace nexus::cli {

/// The shells `nexus completion` writes scripts for.
inline constexpr std::string_view completion_shells[] = {"bash", "zsh", "fish"};

/// What completes as a value, in the scripts' words: "" (nothing), "file", "dir",
/// "sandbox-ids", "template-names", "image-refs" (asked of nexusd) or "words" (`words`).
struct ValueCompletion {
  std::string kind;
  std::vector<std::string> words;
};

struct CompletionOption {
  std::vector<std::string> names;  ///< "-t", "--template"
  std::string help;
  bool takes_value = false;
  bool repeatable = false;         ///< --env K=V, given once per value
  std::string value_name;          ///< "NAME"; "VALUE" when the table gives none
  ValueCompletion values;
  std::vector<std::string> excludes;  ///< names of the options it cannot be combined with
};

struct CompletionPositional {
  std::string name;  ///< "ID"
  std::string help;
  bool required = false;
  bool rest = false;  ///< takes every remaining word (exec's CMD, after --)
  ValueCompletion values;
};

/// One node of `nexus`'s command tree: the root, a group or a command.
struct CompletionNode {
  std::string path;     ///< "" (the root), "sandbox", "auth key", "sandbox create"
  std::string summary;  ///< what the group or command does
  bool command = false;
  std::vector<std::string> children;  ///< names of the groups and commands under it, in order
  std::vector<CompletionOption> options;  ///< its own, then --socket and -h/--help
  std::vector<CompletionPositional> positionals;
};

/// The tree: the root first, every node before its children, in the table's order.
/// Includes `completion SHELL` (handled before the parser, see cmd_completion.cpp).
std::vector<CompletionNode> completion_tree();

/// The node at `path`, or nullptr.
const CompletionNode* find_completion_node(std::span<const CompletionNode> tree,
                                           std::string_view path);

/// The script for `shell` (one of completion_shells), or nullopt for another name.
std::optional<std::string> completion_script(std::string_view shell);

std::string bash_completion_script(std::span<const CompletionNode> tree);
std::string zsh_completion_script(std::span<const CompletionNode> tree);
std::string fish_completion_script(std::span<const CompletionNode> tree);

/// The API request whose answer lists the values of a kind asked of nexusd
/// ("sandbox-ids" -> GET /v1/sandboxes), or nullopt for an unknown kind.
std::optional<std::string> completion_values_target(std::string_view kind);

/// The lines `nexus __complete KIND` prints for nexusd's answer to that request: one value per
/// line, followed by a tab and a short description when `describe` is set. Values that are
/// not plain strings, or contain control characters, are left out.
std::string completion_value_lines(std::string_view kind, const Json& answer, bool describe);

}  // namespace nexus::cli
