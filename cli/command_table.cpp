// SPDX-License-Identifier: Apache-2.0
// The data of the command table: every command, its arguments and their help.
#include "cli/command_table.hpp"

#include "common/result.hpp"

namespace nexus::cli {

namespace {

const ArgSpec json_flag{"--json", "json", ArgKind::flag, {},
                        "Print the API's JSON answer instead of text", false, ArgCheck::none, {}};
const ArgSpec quiet_flag{"-q,--quiet", "quiet", ArgKind::flag, {},
                         "Print less (only IDs, no progress)", false, ArgCheck::none, {}};

ArgSpec positional(std::string_view name, std::string_view key, std::string_view help,
                   bool required = true) {
  return ArgSpec{name, key, ArgKind::value, {}, help, required, ArgCheck::none, {}};
}

/// `spec`, whose values a shell completes with `values`.
ArgSpec completing(ArgSpec spec, ArgValues values) {
  spec.values = values;
  return spec;
}

ArgSpec sandbox_id_arg() {
  return completing(positional("ID", "id", "Sandbox ID"), ArgValues::sandbox_id);
}

ArgSpec template_name_arg() {
  return completing(positional("NAME", "id", "Template name"), ArgValues::template_name);
}

ArgSpec image_ref_arg() {
  return completing(positional("REF", "id", "Image reference or digest"), ArgValues::image_ref);
}

ArgSpec env_option(std::string_view help) {
  return ArgSpec{"-e,--env", "env", ArgKind::list, "K=V", help, false, ArgCheck::key_value, {}};
}

ArgSpec int_option(std::string_view names, std::string_view key, std::string_view value_name,
                   std::string_view help) {
  return ArgSpec{names, key, ArgKind::value, value_name, help, false, ArgCheck::positive_int, {}};
}

ArgSpec text_option(std::string_view names, std::string_view key, std::string_view value_name,
                    std::string_view help) {
  return ArgSpec{names, key, ArgKind::value, value_name, help, false, ArgCheck::none, {}};
}

const std::vector<CommandSpec>& table() {
  static const std::vector<CommandSpec> commands = {
      {CommandId::sandbox_create, "sandbox", "create", "Create a sandbox",
       "Prints the new sandbox's ID (only the ID with -q).\n"
       "Example: nexus sandbox create demo --ttl 30 --env DEBUG=1",
       {positional("NAME", "name", "Name of the sandbox ([A-Za-z0-9._-], up to 63 characters)",
                   false),
        int_option("--ttl", "ttl", "MINUTES",
                   "Stop the sandbox after this many idle minutes (default 10)"),
        completing(text_option("-t,--template", "template", "NAME",
                               "Template to start from (default ai-agent-default)"),
                   ArgValues::template_name),
        int_option("--cpus", "cpus", "N", "Number of vCPUs (1-64, default 1)"),
        int_option("--memory", "memory", "MiB", "Memory in MiB (64-65536, default 512)"),
        env_option("Environment variable for everything run in the sandbox (repeatable)"),
        ArgSpec{"--isolation", "isolation", ArgKind::value, "MODE",
                "auto, microvm or jail (default: nexusd's, normally auto; see nexus doctor)", false,
                ArgCheck::isolation, {}},
        ArgSpec{"--allow-out", "allow_out", ArgKind::list, "LIST",
                "Let the sandbox reach these CIDRs or domains (comma-separated; *.example.com "
                "for subdomains; repeatable); allows win over --deny-out", false, ArgCheck::none, {}},
        ArgSpec{"--deny-out", "deny_out", ArgKind::list, "LIST",
                "Keep the sandbox from these CIDRs or domains (comma-separated, repeatable; "
                "0.0.0.0/0 for everything not allowed)", false, ArgCheck::none, {}},
        ArgSpec{"--no-network", "no_network", ArgKind::flag, {},
                "No network at all, only loopback", false, ArgCheck::none, "allow_out"},
        json_flag, quiet_flag}},

      {CommandId::sandbox_run, "sandbox", "run", "Run a snippet of code in a sandbox",
       "Prints the program's stdout and stderr and exits with its exit status.\n"
       "Example: nexus sandbox run sb_abc -c 'print(2 + 2)'\n"
       "         echo 'console.log(1)' | nexus sandbox run sb_abc -l javascript -c -",
       {sandbox_id_arg(),
        ArgSpec{"-c,--code", "code", ArgKind::value, "CODE",
                "The code to run; '-' reads it from stdin", false, ArgCheck::none, "file"},
        ArgSpec{"-f,--file", "file", ArgKind::value, "FILE", "Read the code from FILE", false,
                ArgCheck::none, "code", ArgValues::file},
        ArgSpec{"-l,--language", "language", ArgKind::value, "LANG",
                "python, javascript or bash (default: from the file's extension, else python)",
                false, ArgCheck::language, {}},
        int_option("--timeout", "timeout", "SECONDS",
                   "Kill the program after this many seconds (exit status 124)"),
        json_flag}},

      {CommandId::sandbox_exec, "sandbox", "exec", "Run a command in a sandbox",
       "Streams the command's output as it is produced and exits with its exit status\n"
       "(128+N when it was killed by signal N).\n"
       "Example: nexus sandbox exec sb_abc --cwd /tmp -- ls -la",
       {sandbox_id_arg(),
        ArgSpec{"CMD", "cmd", ArgKind::list, {}, "The command and its arguments, after --",
                true, ArgCheck::none, {}},
        env_option("Environment variable for the command (repeatable)"),
        text_option("--cwd", "cwd", "DIR", "Working directory of the command"),
        text_option("-u,--user", "user", "NAME", "Run as this user (user or root)"),
        int_option("--timeout", "timeout", "SECONDS",
                   "Kill the command after this many seconds (exit status 124)")}},

      {CommandId::sandbox_pause, "sandbox", "pause", "Pause a sandbox",
       "A paused sandbox keeps its state and holds no CPU.",
       {sandbox_id_arg(), json_flag, quiet_flag}},

      {CommandId::sandbox_resume, "sandbox", "resume", "Resume a paused sandbox", {},
       {sandbox_id_arg(), json_flag, quiet_flag}},

      {CommandId::sandbox_stop, "sandbox", "stop", "Stop a sandbox and discard it", {},
       {sandbox_id_arg(), json_flag, quiet_flag}},

      {CommandId::sandbox_list, "sandbox", "list", "List sandboxes", {},
       {ArgSpec{"-a,--all", "all", ArgKind::flag, {}, "Include stopped sandboxes", false,
                ArgCheck::none, {}},
        json_flag,
        ArgSpec{"-q,--quiet", "quiet", ArgKind::flag, {}, "Print only the sandbox IDs", false,
                ArgCheck::none, {}}}},

      {CommandId::sandbox_status, "sandbox", "status", "Show a sandbox's state", {},
       {sandbox_id_arg(), json_flag}},

      {CommandId::sandbox_port, "sandbox", "port", "Print the URL of a port of a sandbox",
       "Traffic goes through nexusd's E2B endpoint to the sandbox's own address. When the sandbox's\n"
       "public traffic is off, the e2b-traffic-access-token header printed here is required.\n"
       "Example: curl $(nexus sandbox port sb_abc 8080)",
       {sandbox_id_arg(), positional("PORT", "port", "The port a program in the sandbox listens on"), json_flag}},

      {CommandId::netpolicy_add, "netpolicy", "add", "Add an L3/L4 rule to a sandbox's network policy",
       "The rule applies at once, to new and existing connections.\n"
       "Example: nexus netpolicy add sb_abc --direction egress --cidr 10.0.0.0/8 --proto tcp "
       "--ports 5432 --action allow",
       {sandbox_id_arg(),
        ArgSpec{"--direction", "direction", ArgKind::value, "DIR",
                "egress (what the sandbox sends) or ingress", true, ArgCheck::none, {}},
        text_option("--cidr", "cidr", "CIDR", "The remote network, IPv4 or IPv6 (10.0.0.0/8, 2001:db8::/32)"),
        text_option("--proto", "proto", "PROTO", "tcp, udp, icmp or any (default any)"),
        text_option("--ports", "ports", "PORTS", "Destination port or range, tcp and udp only (5432, 8000-8100)"),
        ArgSpec{"--action", "action", ArgKind::value, "ACTION", "allow or deny", true, ArgCheck::none, {}},
        int_option("--priority", "priority", "N", "Lower is checked first (default 1000; the private-range "
                                                  "default is 50000)"),
        text_option("--id", "rule_id", "RULE", "The rule's ID (default rule-N)"),
        json_flag, quiet_flag}},

      {CommandId::netpolicy_list, "netpolicy", "list", "List a sandbox's network rules",
       "Shows the backend enforcing them, the sandbox's addresses and its rules in decision order.\n"
       "Example: nexus netpolicy list sb_abc --all",
       {sandbox_id_arg(),
        ArgSpec{"-a,--all", "all", ArgKind::flag, {},
                "Also nexusd's own rules (DNS, the gateway) and the private-range defaults", false,
                ArgCheck::none, {}},
        json_flag}},

      {CommandId::netpolicy_rm, "netpolicy", "rm", "Remove a rule from a sandbox's network policy", {},
       {sandbox_id_arg(), positional("RULE", "rule", "The rule's ID"), json_flag, quiet_flag}},

      {CommandId::netpolicy_stats, "netpolicy", "stats", "Show packets and bytes per network rule", {},
       {sandbox_id_arg(), json_flag}},

      {CommandId::egress_policy_set, "egress policy", "set", "Set the egress gateway's global domain rules and headers",
       "Replaces the whole policy (admins only). Domains: pypi.org, or *.openai.com for every name below it.\n"
       "Example: nexus egress policy set --allow '*.openai.com' --deny evil.example \\\n"
       "           --inject 'api.openai.com:Authorization=file:/etc/nexus/secrets/openai'",
       {ArgSpec{"--allow", "allow", ArgKind::list, "LIST", "Domains every sandbox may reach over HTTP and TLS "
                "(comma-separated, repeatable)", false, ArgCheck::none, {}},
        ArgSpec{"--deny", "deny", ArgKind::list, "LIST", "Domains no sandbox may reach (comma-separated, repeatable; "
                "deny wins)", false, ArgCheck::none, {}},
        ArgSpec{"--inject", "inject", ArgKind::list, "SPEC",
                "HOST:Header=PROVIDER: add the header to requests to HOST; PROVIDER is file:PATH, env:NAME or "
                "command:PATH [ARGS] (repeatable)", false, ArgCheck::none, {}},
        json_flag}},

      {CommandId::egress_policy_show, "egress policy", "show", "Show the egress gateway's global policy", {},
       {json_flag}},

      {CommandId::egress_audit, "egress", "audit", "Show the egress gateway's connection log",
       "One line per connection: time, sandbox, host, method and URL when seen, status, bytes, duration.\n"
       "Example: nexus egress audit --sandbox sb_abc --limit 20",
       {completing(text_option("--sandbox", "sandbox", "ID", "Only this sandbox's connections (needed unless root)"),
                   ArgValues::sandbox_id),
        text_option("--since", "since", "TIME", "Only connections since TIME (RFC 3339, or Unix milliseconds)"),
        int_option("--limit", "limit", "N", "The newest N connections (default 100)"),
        json_flag}},

      {CommandId::egress_stats, "egress", "stats", "Show the egress gateway's counters", {},
       {json_flag}},

      {CommandId::template_list, "template", "list", "List templates", {},
       {json_flag, ArgSpec{"-q,--quiet", "quiet", ArgKind::flag, {},
                           "Print only the template names", false, ArgCheck::none, {}}}},

      {CommandId::template_build, "template", "build", "Build a template",
       "Without -f: builds a seeded template (ai-agent-default, python-data-science,\n"
       "node-fullstack, browser-automation) from Debian's packages. With -f: builds NAME from a\n"
       "Nexusfile (FROM, RUN, COPY, ENV, WORKDIR, USER, CMD); COPY sources come from the context\n"
       "directory, packed as a tar (at most 256 MiB; .nexusignore lines are left out). Then follows\n"
       "the build as template build-watch does: a live view on a terminal, else a line per step\n"
       "([3/7] running RUN ...) with the log indented; --json prints the build events as JSON\n"
       "lines; --detach prints only the build ID (nexus template watch NAME).\n"
       "--cpus/--memory/--ttl/--env set the defaults sandboxes of the template inherit.\n"
       "Example: nexus template build py -f Nexusfile --memory 1024",
       {completing(positional("NAME", "name", "Template name"), ArgValues::template_name),
        completing(text_option("-f,--file", "file", "PATH", "The Nexusfile to build from"),
                   ArgValues::file),
        completing(text_option("--context", "context", "DIR",
                               "Build context for COPY (default: the Nexusfile's directory)"),
                   ArgValues::directory),
        int_option("--cpus", "cpus", "N", "Default vCPUs of its sandboxes (1-64)"),
        int_option("--memory", "memory", "MiB", "Default memory of its sandboxes in MiB (64-65536)"),
        int_option("--ttl", "ttl", "MINUTES", "Default idle timeout of its sandboxes"),
        env_option("Default environment variable of its sandboxes (repeatable; over the file's ENV)"),
        text_option("--restart", "restart", "POLICY", "Restart policy of its start command: never, on-failure[:N], always"),
        ArgSpec{"--detach", "detach", ArgKind::flag, {}, "Print the build ID and return", false, ArgCheck::none, {}},
        ArgSpec{"--json", "json", ArgKind::flag, {}, "Print the build events as JSON lines",
                false, ArgCheck::none, {}},
        ArgSpec{"-q,--quiet", "quiet", ArgKind::flag, {}, "Do not show the build log", false,
                ArgCheck::none, {}}}},

      {CommandId::template_show, "template", "show", "Show a template: base, defaults, status", {},
       {template_name_arg(), json_flag}},

      {CommandId::template_rm, "template", "rm", "Remove a built template",
       "Refused while sandboxes use it or it is being built.",
       {template_name_arg()}},

      {CommandId::template_build_watch, "template", "build-watch", "Watch a running build live",
       "On a terminal: a full-screen view of the build (steps with their state, layer downloads\n"
       "with the speed, the log's tail), redrawn as it goes and on resize; it ends with the build.\n"
       "Otherwise plain lines; --json prints the build's events as JSON lines. Ctrl-C stops\n"
       "watching, not the build. Exit status 0 when the build succeeds, 1 when it fails.\n"
       "Example: nexus template build-watch bld_4f2a9c",
       {positional("BUILD", "id", "Build ID (printed by `nexus template build`)"),
        ArgSpec{"--json", "json", ArgKind::flag, {}, "Print the build events as JSON lines", false,
                ArgCheck::none, {}},
        ArgSpec{"-q,--quiet", "quiet", ArgKind::flag, {}, "Without a terminal, print nothing; only the exit status",
                false, ArgCheck::none, {}}}},

      {CommandId::template_watch, "template", "watch", "Watch the running build of a template",
       "As build-watch, for the build running for template NAME.\n"
       "Example: nexus template watch data-sci",
       {template_name_arg(),
        ArgSpec{"--json", "json", ArgKind::flag, {}, "Print the build events as JSON lines", false,
                ArgCheck::none, {}},
        ArgSpec{"-q,--quiet", "quiet", ArgKind::flag, {}, "Without a terminal, print nothing; only the exit status",
                false, ArgCheck::none, {}}}},

      {CommandId::image_pull, "image", "pull", "Pull an image from a registry",
       "Shows a progress bar per layer on a terminal, plain lines otherwise; --json prints the\n"
       "pull's events as JSON lines. The image is unpacked for template builds.\n"
       "Registries on loopback are spoken to over http; others over https unless nexusd has\n"
       "--insecure-registry. Credentials come from nexusd's --registry-credentials file.\n"
       "Example: nexus image pull debian:12 --platform linux/arm64",
       {positional("REF", "id", "Image reference ([host[:port]/]repo[:tag][@sha256:...])"),
        text_option("--platform", "platform", "OS/ARCH",
                    "Platform to pick from a multi-platform image (default: this host's)"),
        ArgSpec{"--json", "json", ArgKind::flag, {}, "Print the pull events as JSON lines", false,
                ArgCheck::none, {}},
        ArgSpec{"-q,--quiet", "quiet", ArgKind::flag, {}, "Print only the reference when done",
                false, ArgCheck::none, {}}}},

      {CommandId::image_list, "image", "ls", "List pulled images", {},
       {json_flag, ArgSpec{"-q,--quiet", "quiet", ArgKind::flag, {}, "Print only the references",
                           false, ArgCheck::none, {}}}},

      {CommandId::image_inspect, "image", "inspect", "Show an image: manifest, config, layers",
       "REF is a reference or a manifest digest (or at least 12 of its hex digits).",
       {image_ref_arg(), json_flag}},

      {CommandId::image_rm, "image", "rm", "Remove an image and its unpacked tree",
       "Blobs no other image needs are deleted too. A digest removes every name of the image.",
       {image_ref_arg(), json_flag, quiet_flag}},

      {CommandId::auth_key_create, "auth key", "create", "Create an API key for the E2B endpoint",
       "Prints the key once (nexusd keeps only its hash). The key's user owns the sandboxes\n"
       "created with it and sees only those; an admin key sees every user's sandboxes.\n"
       "Only root may create keys for other users or admin keys.\n"
       "Example: nexus auth key create --user alice --name ci",
       {text_option("--user", "user", "NAME", "Owner of the key (default: you)"),
        ArgSpec{"--admin", "admin", ArgKind::flag, {}, "The key sees all users' sandboxes", false,
                ArgCheck::none, {}},
        text_option("--name", "name", "LABEL", "A label to recognise the key by"),
        json_flag, ArgSpec{"-q,--quiet", "quiet", ArgKind::flag, {}, "Print only the key",
                           false, ArgCheck::none, {}}}},

      {CommandId::auth_key_list, "auth key", "list", "List API keys",
       "Shows your keys (root: every key), never the secrets.",
       {json_flag, ArgSpec{"-q,--quiet", "quiet", ArgKind::flag, {}, "Print only the key IDs",
                           false, ArgCheck::none, {}}}},

      {CommandId::auth_key_revoke, "auth key", "revoke", "Revoke an API key",
       "Requests with the key fail with 401 from then on.",
       {positional("ID", "id", "Key ID (key_...)"), json_flag, quiet_flag}},

      {CommandId::e2b_env, "e2b", "env", "Print the environment for the E2B SDKs",
       "Prints E2B_API_URL, E2B_SANDBOX_URL and E2B_API_KEY as shell exports. The key is\n"
       "created on first use and kept in ~/.config/nexus/e2b-keys.json (mode 0600).\n"
       "Example: eval \"$(nexus e2b env)\" && node agent.mjs",
       {json_flag}},

      {CommandId::doctor, "", "doctor", "Check this host: microVM support, guest images, cgroups, nexusd",
       "One line per check (ok, warn or fail), then which isolation 'auto' picks and why.\n"
       "Asks nexusd (GET /v1/host); when nexusd is down and /dev/kvm can be opened, runs the\n"
       "probe itself. Exit status: 0 when no check failed, 1 when one did, 3 when nexusd is down.",
       {json_flag}},

      {CommandId::version, "", "version", "Show the client's and the daemon's versions", {},
       {json_flag}},
  };
  return commands;
}

const std::vector<GroupSpec> groups = {
    {"sandbox", "Create, use and remove sandboxes"},
    {"netpolicy", "Sandbox network rules (L3/L4) and their counters"},
    {"egress", "The egress gateway: domain rules, injected headers, audit"},
    {"egress policy", "Set and show the gateway's global policy"},
    {"template", "List and build templates"},
    {"image", "Pull, list, inspect and remove OCI images"},
    {"auth", "Manage access to nexusd"},
    {"auth key", "Create, list and revoke API keys for the E2B endpoint"},
    {"e2b", "Use Nexus from the E2B SDKs"},
};

const std::vector<ArgSpec> globals = {
    ArgSpec{"--socket", "socket", ArgKind::value, "PATH",
            "nexusd's API socket (default $NEXUS_SOCKET, else /run/nexus/nexus.sock)", false,
            ArgCheck::none, {}, ArgValues::file},
};

}  // namespace

std::span<const CommandSpec> command_table() { return table(); }
std::span<const GroupSpec> command_groups() { return groups; }
std::span<const ArgSpec> global_args() { return globals; }

const CommandSpec& command_spec(CommandId id) {
  for (const CommandSpec& c : table())
    if (c.id == id) return c;
  check_failed("command in the table", __FILE__, __LINE__);
}

}  // namespace nexus::cli
