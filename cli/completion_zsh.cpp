// SPDX-License-Identifier: Apache-2.0
// `nexus completion zsh`: one _arguments function per group and command of the tree.
#include <algorithm>

#include <fmt/format.h>

#include "cli/completion.hpp"

namespace nexus::cli {

namespace {

/// `text` in single quotes.
std::string single_quoted(std::string_view text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

/// Text for the [explanation] of an _arguments option spec.
std::string explanation(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

/// Text for a message of an _arguments spec or a _describe entry: colons are quoted.
std::string colon_quoted(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == ':' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string function_name(std::string_view path) {
  std::string out = "_nexus";
  if (path.empty()) return out;
  out += "_";
  for (char c : path) out += (c == ' ' || c == '-') ? '_' : c;
  return out;
}

bool is_remote(const ValueCompletion& v) {
  return !v.kind.empty() && v.kind != "file" && v.kind != "dir" && v.kind != "words";
}

/// The action for values nexusd has: __nexus_remote_sandbox_ids (written by remote_wrappers).
std::string remote_function(std::string_view kind) {
  std::string name = "__nexus_remote_";
  for (char c : kind) name += c == '-' ? '_' : c;
  return name;
}

/// An action is called with compadd options as its arguments: one function per kind.
std::string remote_wrappers(std::span<const CompletionNode> tree) {
  std::vector<std::string> kinds;
  auto add = [&](const ValueCompletion& v) {
    if (is_remote(v) && std::find(kinds.begin(), kinds.end(), v.kind) == kinds.end())
      kinds.push_back(v.kind);
  };
  for (const CompletionNode& n : tree) {
    for (const CompletionOption& o : n.options) add(o.values);
    for (const CompletionPositional& p : n.positionals) add(p.values);
  }
  std::string out;
  for (const std::string& k : kinds)
    out += fmt::format("{}() {{ __nexus_remote {} \"$@\" }}\n", remote_function(k), k);
  return out + "\n";
}

std::string action(const ValueCompletion& v) {
  if (v.kind == "file") return "_files";
  if (v.kind == "dir") return "_files -/";
  if (v.kind == "words") {
    std::string out = "(";
    for (size_t i = 0; i < v.words.size(); ++i) out += (i ? " " : "") + v.words[i];
    return out + ")";
  }
  if (!v.kind.empty()) return remote_function(v.kind);
  return " ";
}

/// The _arguments specs of one option (one per name), in single quotes.
std::string option_specs(const CompletionOption& o) {
  bool help = o.names.size() == 2 && o.names[1] == "--help";
  std::string exclusions;
  if (help || o.names.front() == "--version") {
    exclusions = "(- *)";
  } else {
    std::vector<std::string> excluded = o.excludes;
    if (!o.repeatable) excluded.insert(excluded.begin(), o.names.begin(), o.names.end());
    if (!excluded.empty()) {
      exclusions = "(";
      for (size_t i = 0; i < excluded.size(); ++i) exclusions += (i ? " " : "") + excluded[i];
      exclusions += ")";
    }
    if (o.repeatable) exclusions += "*";
  }
  std::string tail = "[" + explanation(o.help) + "]";
  if (o.takes_value) tail += ":" + colon_quoted(o.value_name) + ":" + action(o.values);
  std::string out;
  for (const std::string& name : o.names) {
    // -t+ : the value in the same word or the next; --template= : after '=' or the next word.
    std::string form = name;
    if (o.takes_value) form += name.size() == 2 ? "+" : "=";
    out += " \\\n    " + single_quoted(exclusions + form + tail);
  }
  return out;
}

std::string command_function(const CompletionNode& n) {
  std::string specs;
  for (const CompletionOption& o : n.options) specs += option_specs(o);
  int number = 0;
  for (const CompletionPositional& p : n.positionals) {
    std::string message = colon_quoted(p.name + " - " + p.help);
    if (p.rest)
      specs += " \\\n    " + single_quoted("*:" + message + ":" + action(p.values));
    else
      specs += " \\\n    " + single_quoted(std::to_string(++number) + (p.required ? ":" : "::") +
                                    message + ":" + action(p.values));
  }
  return fmt::format("{}() {{\n  _arguments -S{}\n}}\n\n", function_name(n.path), specs);
}

std::string group_function(const CompletionNode& n, std::span<const CompletionNode> tree) {
  std::string specs;
  for (const CompletionOption& o : n.options) specs += option_specs(o);
  std::string commands, dispatch;
  for (const std::string& child : n.children) {
    std::string path = n.path.empty() ? child : n.path + " " + child;
    const CompletionNode* c = find_completion_node(tree, path);
    commands += "        " + single_quoted(colon_quoted(child) + ":" + (c ? c->summary : "")) + "\n";
    dispatch += fmt::format("        {}) {} && ret=0 ;;\n", child, function_name(path));
  }
  std::string context = n.path.empty() ? "nexus" : "nexus-" + function_name(n.path).substr(7);
  std::string root_setup =
      n.path.empty() ? "  local _nexus_cmd=${words[1]/#\\~/$HOME} _nexus_socket\n" : "";
  return fmt::format(
      "{name}() {{\n"
      "{root}"
      "  local curcontext=$curcontext state state_descr line ret=1\n"
      "  local -A opt_args\n"
      "  _arguments -C{specs} \\\n"
      "    ': :->command' \\\n"
      "    '*:: :->argument' && ret=0\n"
      "  case $state in\n"
      "    command)\n"
      "      local -a commands=(\n"
      "{commands}"
      "      )\n"
      "      _describe -t commands {title} commands && ret=0 ;;\n"
      "    argument)\n"
      "      [[ -n ${{opt_args[--socket]}} ]] && _nexus_socket=${{(Q)opt_args[--socket]}}\n"
      "      curcontext=${{curcontext%:*:*}}:{context}-$words[1]:\n"
      "      case $words[1] in\n"
      "{dispatch}"
      "      esac ;;\n"
      "  esac\n"
      "  return ret\n"
      "}}\n\n",
      fmt::arg("name", function_name(n.path)), fmt::arg("root", root_setup),
      fmt::arg("specs", specs), fmt::arg("commands", commands),
      fmt::arg("title", single_quoted(n.path.empty() ? "nexus command" : "nexus " + n.path + " command")),
      fmt::arg("context", context), fmt::arg("dispatch", dispatch));
}

constexpr const char* zsh_head = R"SH(#compdef nexus
# zsh completion for nexus(1). Generated by `nexus completion zsh` from the CLI's command
# table: do not edit. Sandbox IDs, template names and image references come from nexusd
# (`nexus __complete KIND`); nothing completes for them when nexusd cannot be reached.

# __nexus_remote KIND [COMPADD OPTIONS]: the values of KIND nexusd has, with descriptions.
__nexus_remote() {
  local kind=$1 line value description sock=${(Q)opt_args[--socket]:-$_nexus_socket}
  local -a lines values
  shift
  lines=(${(f)"$(_call_program $kind ${(q)_nexus_cmd:-nexus} __complete $kind --describe \
    ${sock:+--socket ${(q)sock}} 2>/dev/null)"})
  for line in $lines; do
    value=${line%%$'\t'*} description=
    [[ $line == *$'\t'* ]] && description=${line#*$'\t'}
    values+=("${value//:/\\:}${description:+:$description}")
  done
  _describe -t $kind ${kind//-/ } values "$@"
}

)SH";

}  // namespace

std::string zsh_completion_script(std::span<const CompletionNode> tree) {
  std::string out = zsh_head;
  out += remote_wrappers(tree);
  for (const CompletionNode& n : tree)
    out += n.command ? command_function(n) : group_function(n, tree);
  // Autoloaded from fpath (as _nexus), the file's text is _nexus's first body: run the
  // real one. Sourced (source <(nexus completion zsh)), register it.
  out += "if [[ $funcstack[1] == _nexus ]]; then\n"
         "  _nexus \"$@\"\n"
         "else\n"
         "  compdef _nexus nexus\n"
         "fi\n";
  return out;
}

}  // namespace nexus::cli
