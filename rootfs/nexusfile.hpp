// SPDX-License-Identifier: Apache-2.0
// The Nexusfile: a Dockerfile subset that describes a template (`nexus template build NAME
// -f Nexusfile`). One FROM (an image reference, or `debian:<suite>` bootstrapped with
// mmdebstrap), then RUN, COPY, ENV, WORKDIR, USER and CMD. parse_nexusfile() only parses and
// validates; nothing is built here. The grammar and its decisions: rootfs/README.md.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "rootfs/nexusfile_lexer.hpp"
#include "rootfs/template_defaults.hpp"

namespace nexus::rootfs {

/// The Debian suites `FROM debian:<suite>` accepts.
inline constexpr std::string_view kKnownDebianSuites[] = {"bullseye", "bookworm", "trixie", "forky", "sid"};

struct NexusfileBase {
  enum class Kind { debian, image };
  Kind kind = Kind::debian;
  std::string suite;  ///< debian: "bookworm"
  std::string image;  ///< image: the reference as written ("python:3.12-slim")
  int line = 0;
  /// "debian:bookworm" or the image reference.
  std::string str() const { return kind == Kind::debian ? "debian:" + suite : image; }
};

enum class StepKind { run, copy, env, workdir, user, cmd };

/// One instruction after FROM, with everything resolved that can be resolved without the
/// build: variables substituted (not in RUN/CMD: the shell expands those), WORKDIR and COPY's
/// destination made absolute. The builder applies steps in order.
struct Step {
  StepKind kind = StepKind::run;
  int line = 0;      ///< first physical line, 1-based
  std::string text;  ///< "RUN pip install numpy", continuations joined, for progress lines
  Command command;   ///< run, cmd
  std::vector<std::string> sources;  ///< copy: relative to the build context, normalised
  std::string dest;                  ///< copy: absolute; a trailing '/' kept (a directory)
  std::string chown;                 ///< copy: "user[:group]" or empty
  std::vector<std::pair<std::string, std::string>> env;  ///< env, in order
  std::string path;                  ///< workdir: absolute, normalised
  std::string user;                  ///< user: "name|uid[:group|gid]"
};

struct Nexusfile {
  NexusfileBase base;
  std::vector<Step> steps;
  /// base, env, workdir, user and start command as the file leaves them; resources and
  /// restart are never set (they come from the API).
  TemplateDefaults defaults;
  /// Accepted but ignored instructions (EXPOSE, LABEL): "line 4: EXPOSE is ignored (...)".
  std::vector<std::string> warnings;
  std::string syntax;  ///< a `# syntax=` directive, recorded only
};

Result<Nexusfile> parse_nexusfile(std::string_view text, const NexusfileLimits& limits = {});

/// "step 3/7: RUN pip install numpy" (1-based; the instruction clipped to 72 characters).
std::string describe_step(const Nexusfile& f, size_t index);

/// Lexical normalisation of an absolute path: "//a/./b/../c/" -> "/a/c" ('..' stops at '/').
std::string normalize_abs_path(std::string_view path);

}  // namespace nexus::rootfs
