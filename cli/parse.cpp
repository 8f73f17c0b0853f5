// SPDX-License-Identifier: Apache-2.0
// Builds the CLI11 app from the command table and turns argv into an Invocation.
#include "cli/parse.hpp"

#include <algorithm>
#include <climits>
#include <sstream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/exit_codes.hpp"
#include "nexus_config.h"

namespace nexus::cli {

std::string Invocation::get(std::string_view key, std::string def) const {
  auto it = values.find(key);
  if (it == values.end() || it->second.empty()) return def;
  return it->second.back();
}

const std::vector<std::string>& Invocation::list(std::string_view key) const {
  static const std::vector<std::string> none;
  auto it = values.find(key);
  return it == values.end() ? none : it->second;
}

namespace {

std::string check_positive_int(std::string& value) {
  long long n = 0;
  size_t used = 0;
  try {
    n = std::stoll(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != value.size() || n < 1 || n > INT_MAX)
    return fmt::format("'{}' is not a positive whole number", value);
  return {};
}

std::string check_key_value(std::string& value) {
  auto eq = value.find('=');
  if (eq == std::string::npos || eq == 0)
    return fmt::format("'{}' is not of the form KEY=VALUE", value);
  return {};
}

std::string check_language(std::string& value) {
  for (std::string_view lang : run_languages)
    if (value == lang) return {};
  std::string valid;
  for (std::string_view lang : run_languages) {
    if (!valid.empty()) valid += ", ";
    valid += lang;
  }
  return fmt::format("unknown language '{}' (valid: {})", value, valid);
}

std::string check_isolation(std::string& value) {
  for (std::string_view mode : isolation_modes)
    if (value == mode) return {};
  return fmt::format("unknown isolation '{}' (valid: auto, microvm, jail)", value);
}

CLI::Validator validator_for(ArgCheck check) {
  switch (check) {
    case ArgCheck::positive_int: return CLI::Validator(check_positive_int, "", "positive");
    case ArgCheck::key_value: return CLI::Validator(check_key_value, "", "key_value");
    case ArgCheck::language: return CLI::Validator(check_language, "", "language");
    case ArgCheck::isolation: return CLI::Validator(check_isolation, "", "isolation");
    case ArgCheck::none: break;
  }
  return CLI::Validator();
}

struct BoundArg {
  CLI::Option* option;
  const ArgSpec* spec;
};

struct BoundCommand {
  const CommandSpec* spec;
  CLI::App* app;
  std::vector<BoundArg> args;
};

CLI::Option* add_arg(CLI::App& app, const ArgSpec& spec) {
  // Note: add_option(name, std::string&) would bind the string as the option's variable,
  // so the description is set separately.
  std::string names(spec.names);
  if (spec.kind == ArgKind::flag) return app.add_flag(names)->description(std::string(spec.help));

  CLI::Option* opt = app.add_option(names)->description(std::string(spec.help));
  if (!spec.value_name.empty()) opt->type_name(std::string(spec.value_name));
  if (spec.kind == ArgKind::list) {
    if (spec.positional())
      opt->expected(-1)->allow_extra_args(true);  // one or more, to the end of the line
    else
      opt->expected(1);  // one value per occurrence: --env A=1 --env B=2
    opt->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  }
  if (spec.required) opt->required();
  if (spec.check != ArgCheck::none) opt->check(validator_for(spec.check));
  return opt;
}

/// The app and the handles needed to read the parse back.
struct BuiltApp {
  CLI::App app{"Nexus: sandboxes for AI agents on this host.", "nexus"};
  std::vector<BoundArg> globals;
  std::vector<BoundCommand> commands;
};

void build_app(BuiltApp& built) {
  CLI::App& app = built.app;
  app.set_version_flag("--version", "nexus " NEXUS_VERSION, "Print the version and exit");
  app.footer(std::string("Shell completion: nexus completion bash|zsh|fish (nexus-completion(1)). Manual: man nexus.\n\n") +
             exit_status_help);
  app.require_subcommand(1);
  app.fallthrough();
  for (const ArgSpec& g : global_args()) built.globals.push_back({add_arg(app, g), &g});

  std::map<std::string_view, CLI::App*> groups;
  for (const GroupSpec& g : command_groups()) {
    // "auth key" nests under "auth" (listed before it).
    CLI::App* parent = &app;
    std::string_view leaf = g.name;
    if (auto space = g.name.rfind(' '); space != std::string_view::npos) {
      parent = groups.at(g.name.substr(0, space));
      leaf = g.name.substr(space + 1);
    }
    CLI::App* sub = parent->add_subcommand(std::string(leaf), std::string(g.summary));
    sub->require_subcommand(1);
    sub->fallthrough();
    sub->footer("");
    groups[g.name] = sub;
  }
  for (const CommandSpec& c : command_table()) {
    CLI::App* parent = c.group.empty() ? &app : groups.at(c.group);
    CLI::App* sub = parent->add_subcommand(std::string(c.name), std::string(c.summary));
    sub->fallthrough();
    sub->footer(std::string(c.footer));
    BoundCommand bound{&c, sub, {}};
    for (const ArgSpec& a : c.args) bound.args.push_back({add_arg(*sub, a), &a});
    for (const BoundArg& a : bound.args) {
      if (a.spec->excludes.empty()) continue;
      for (const BoundArg& other : bound.args)
        if (other.spec->key == a.spec->excludes) a.option->excludes(other.option);
    }
    built.commands.push_back(std::move(bound));
  }
}

void collect(const std::vector<BoundArg>& args, Invocation& inv) {
  for (const BoundArg& a : args) {
    if (a.option->count() == 0) continue;
    auto& values = inv.values[std::string(a.spec->key)];
    if (a.spec->kind == ArgKind::flag) {
      values.emplace_back("true");
    } else {
      for (const std::string& v : a.option->results()) values.push_back(v);
    }
  }
}

/// "nexus sandbox run" for the deepest subcommand selected, for usage hints.
std::string selected_path(CLI::App& app) {
  std::string path = "nexus";
  CLI::App* cur = &app;
  for (;;) {
    auto subs = cur->get_subcommands();
    if (subs.empty()) break;
    cur = subs.front();
    path += " " + cur->get_name();
  }
  return path;
}

bool is_info_request(const CLI::ParseError& e) {
  const std::string& name = e.get_name();
  return name == "CallForHelp" || name == "CallForAllHelp" || name == "CallForVersion";
}

}  // namespace

ParseOutcome parse_arguments(std::span<const std::string> args) {
  BuiltApp built;
  build_app(built);
  ParseOutcome outcome;

  if (args.empty()) {
    outcome.exit_code = exit_usage;
    outcome.err = built.app.help();
    return outcome;
  }

  // CLI11 wants the arguments in reverse order.
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    built.app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    if (is_info_request(e)) {
      std::ostringstream out, err;
      built.app.exit(e, out, err);
      outcome.exit_code = exit_ok;
      outcome.out = out.str();
      outcome.err = err.str();
      return outcome;
    }
    std::string path = selected_path(built.app);
    outcome.exit_code = exit_usage;
    outcome.err = fmt::format("nexus: {}\nRun '{} --help' for usage.\n", e.what(), path);
    return outcome;
  }

  for (const BoundCommand& c : built.commands) {
    if (!c.app->parsed()) continue;
    Invocation inv;
    inv.id = c.spec->id;
    collect(built.globals, inv);
    collect(c.args, inv);
    outcome.invocation = std::move(inv);
    return outcome;
  }
  // A group without a command cannot get here (require_subcommand), but be safe.
  outcome.exit_code = exit_usage;
  outcome.err = built.app.help();
  return outcome;
}

}  // namespace nexus::cli
