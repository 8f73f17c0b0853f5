// SPDX-License-Identifier: Apache-2.0
// `nexus completion fish`: `complete` lines for every group, command, option and
// positional of the tree, conditioned on the command path typed so far.
#include <fmt/format.h>

#include "cli/completion.hpp"

namespace nexus::cli {

namespace {

/// `text` in fish single quotes.
std::string single_quoted(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

/// The arguments of `complete` that give an option's or positional's values.
std::string value_args(const ValueCompletion& v) {
  if (v.kind.empty()) return "-x";
  if (v.kind == "file") return "-r -F";
  if (v.kind == "dir") return "-x -a '(__fish_complete_directories)'";
  if (v.kind == "words") {
    std::string words;
    for (size_t i = 0; i < v.words.size(); ++i) words += (i ? " " : "") + v.words[i];
    return "-x -a " + single_quoted(words);
  }
  return "-x -a '(__fish_nexus_remote " + v.kind + ")'";
}

std::string at(const std::string& path) { return single_quoted("__fish_nexus_at \"" + path + "\""); }

std::string node_lines(const CompletionNode& n, std::span<const CompletionNode> tree) {
  std::string out = fmt::format("\n# nexus{}{}\n", n.path.empty() ? "" : " ", n.path);
  for (const std::string& child : n.children) {
    std::string path = n.path.empty() ? child : n.path + " " + child;
    const CompletionNode* c = find_completion_node(tree, path);
    out += fmt::format("complete -c nexus -n {} -a {} -d {}\n", at(n.path), child,
                       single_quoted(c ? c->summary : ""));
  }
  for (const CompletionOption& o : n.options) {
    std::string names;
    for (const std::string& name : o.names)
      names += (name.size() == 2 ? " -s " + name.substr(1) : " -l " + name.substr(2));
    out += fmt::format("complete -c nexus -n {}{}{} -d {}\n", at(n.path), names,
                       o.takes_value ? " " + value_args(o.values) : "", single_quoted(o.help));
  }
  int index = 0;
  for (const CompletionPositional& p : n.positionals) {
    int i = index++;
    if (p.values.kind.empty() || p.values.kind == "file") continue;  // nothing to offer
    std::string where = fmt::format("__fish_nexus_arg \"{}\" {}{}", n.path, i, p.rest ? "+" : "");
    out += fmt::format("complete -c nexus -n {} {} -d {}\n", single_quoted(where), value_args(p.values),
                       single_quoted(p.name));
  }
  return out;
}

/// A fish `switch` on the command path, printing `lines(node)` for each node.
template <class F>
std::string path_switch(std::span<const CompletionNode> tree, F lines) {
  std::string out = "    switch \"$argv[1]\"\n";
  for (const CompletionNode& n : tree) {
    std::string words = lines(n);
    if (words.empty()) continue;
    out += fmt::format("        case {}\n            printf '%s\\n' {}\n", single_quoted(n.path), words);
  }
  return out + "    end\n";
}

constexpr const char* fish_walk = R"SH(
# __fish_nexus_state: the number of positionals typed after the command path (-1 after
# `--`), then the command path ("sandbox create").
function __fish_nexus_state
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l path
    set -l npos 0
    set -l want 0
    for t in $tokens
        if test $want = 1
            set want 0
            continue
        end
        switch $t
            case --
                set npos -1
                break
            case '-*=*'
            case '-*'
                contains -- $t (__fish_nexus_vopts "$path"); and set want 1
            case '*'
                if contains -- $t (__fish_nexus_subs "$path")
                    set -a path $t
                    set npos 0
                else
                    set npos (math $npos + 1)
                end
        end
    end
    echo $npos
    echo "$path"
end

# __fish_nexus_at PATH: the words typed so far are the command path PATH (and its arguments).
function __fish_nexus_at
    set -l s (__fish_nexus_state)
    test "$s[2]" = "$argv[1]"
end

# __fish_nexus_arg PATH N: the word being completed is PATH's positional N (from 0; N+ for N
# and after).
function __fish_nexus_arg
    set -l s (__fish_nexus_state)
    test "$s[2]" = "$argv[1]"; or return 1
    set -l n (string replace -- + '' $argv[2])
    if string match -q -- '*+' $argv[2]
        test $s[1] -ge $n
    else
        test $s[1] -eq $n
    end
end

# __fish_nexus_remote KIND: the values of KIND nexusd has (`nexus __complete`), with
# descriptions; nothing when nexusd cannot be reached.
function __fish_nexus_remote
    set -l tokens (commandline -opc)
    set -l sock
    for i in (seq 2 (count $tokens))
        switch $tokens[$i]
            case --socket
                set -q tokens[(math $i + 1)]; and set sock --socket $tokens[(math $i + 1)]
            case '--socket=*'
                set sock --socket (string replace -- --socket= '' $tokens[$i])
        end
    end
    set -l nexus (string replace -r -- '^~/' "$HOME/" $tokens[1])
    command $nexus __complete $argv[1] --describe $sock 2>/dev/null
end

complete -c nexus -f
)SH";

}  // namespace

std::string fish_completion_script(std::span<const CompletionNode> tree) {
  std::string out =
      "# fish completion for nexus(1). Generated by `nexus completion fish` from the CLI's\n"
      "# command table: do not edit. Sandbox IDs, template names and image references come\n"
      "# from nexusd (`nexus __complete KIND`); nothing completes for them when nexusd cannot\n"
      "# be reached.\n\n"
      "# __fish_nexus_subs PATH: the groups and commands under the command path PATH.\n"
      "function __fish_nexus_subs\n";
  out += path_switch(tree, [](const CompletionNode& n) {
    std::string words;
    for (const std::string& c : n.children) words += (words.empty() ? "" : " ") + c;
    return words;
  });
  out += "end\n\n# __fish_nexus_vopts PATH: the options of PATH that take a value.\n"
         "function __fish_nexus_vopts\n";
  out += path_switch(tree, [](const CompletionNode& n) {
    std::string words;
    for (const CompletionOption& o : n.options)
      if (o.takes_value)
        for (const std::string& name : o.names) words += (words.empty() ? "" : " ") + name;
    return words;
  });
  out += "end\n";
  out += fish_walk;
  for (const CompletionNode& n : tree) out += node_lines(n, tree);
  return out;
}

}  // namespace nexus::cli
